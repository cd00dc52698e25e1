"""The projector's own settings (it reads the ledger at ``LedgerSettings.url``)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.common.settings.env import env_int
from services.common.settings.serving import HttpSettings


class ProjectorSettings(msgspec.Struct, frozen=True, kw_only=True):
    api_key: str | None
    port: int
    cache_learners: int


def read(env: Mapping[str, str], http: HttpSettings) -> ProjectorSettings:
    return ProjectorSettings(
        api_key=env.get("CREDIT_LEDGER_PROJECTOR_API_KEY") or None,
        port=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_PORT", http.port + 1 if http.port else 0, 0, 65535
        ),
        cache_learners=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS", 10_000, 1, 10_000_000
        ),
    )
