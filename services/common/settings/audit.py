"""The transparency log (services/ledger/audit) and ``credit-ledger audit``: see README.md,
"Auditing"."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from services.common.settings.env import env_bool, env_float, env_int
from services.common.settings.ledger import LedgerSettings


class AuditSettings(msgspec.Struct, frozen=True, kw_only=True):
    tree_signing_key_file: Path | None
    tree_head_interval_s: float
    tree_builder_enabled: bool
    tree_batch_max: int
    # The least time between two build steps: appends commit many times a second, and each
    # step is a transaction of its own.
    tree_build_interval_s: float
    # The ledger ``credit-ledger audit replay`` reads, and the auditor key it reads with.
    url: str
    api_key: str | None


def read(env: Mapping[str, str], ledger: LedgerSettings) -> AuditSettings:
    key_file = env.get("CREDIT_LEDGER_TREE_SIGNING_KEY_FILE") or None
    return AuditSettings(
        tree_signing_key_file=Path(key_file).resolve() if key_file else None,
        tree_head_interval_s=env_float(
            env, "CREDIT_LEDGER_TREE_HEAD_INTERVAL_S", 60.0, 0.1, 86_400.0
        ),
        tree_builder_enabled=env_bool(env, "CREDIT_LEDGER_TREE_BUILDER_ENABLED", True),
        tree_batch_max=env_int(env, "CREDIT_LEDGER_TREE_BATCH_MAX", 5000, 1, 100_000),
        tree_build_interval_s=env_float(
            env, "CREDIT_LEDGER_TREE_BUILD_INTERVAL_MS", 250.0, 0.0, 60_000.0
        )
        / 1000.0,
        url=(env.get("CREDIT_LEDGER_AUDIT_URL") or ledger.url).rstrip("/"),
        api_key=env.get("CREDIT_LEDGER_AUDIT_API_KEY") or None,
    )
