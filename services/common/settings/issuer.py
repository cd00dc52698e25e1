"""The issuer's own settings, the ``CREDIT_LEDGER_ISSUER_*`` variables (it shares the
infrastructure, logging, HTTP and ledger-URL settings with the other services)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from services.common.settings.env import SettingsError, env_bool, env_float, env_int
from services.common.settings.serving import HttpSettings

Alg = Literal["RS256", "ES256", "EdDSA"]
ALGS: tuple[Alg, ...] = ("RS256", "ES256", "EdDSA")
SALT_MIN_CHARS = 16


class Faults(msgspec.Struct, frozen=True, kw_only=True):
    """Fault injection for the tests of crash safety; never set in production."""

    crash_after_award_append: bool = False  # SIGKILL itself right after an award is appended
    skip_first_ack: bool = False  # handle a message but leave its first delivery unacked


class IssuerSettings(msgspec.Struct, frozen=True, kw_only=True):
    key_file: Path | None
    alg: Alg
    signing_kid: str | None
    public_url: str
    api_key: str | None
    learner_hash_salt: str | None
    dead_letter_max_deliveries: int
    port: int
    name: str
    ack_wait_s: float
    retry_backoff_max_s: float
    nsqf_url: str
    history_cache_learners: int
    # Where the learner's passbook reads the learner's bank (with the learner's own link).
    projector_url: str
    # Reconciliation from the ledger (services/issuer/reconcile.py): a pass at start, then
    # one every interval; events younger than the grace are left to the consumers.
    reconcile_interval_s: float = 300.0
    reconcile_grace_s: float = 60.0
    # Also publish the deprecated v1 credential messages (with the raw learner id) beside v2,
    # until proto/issuer.py's V1_SUNSET.
    publish_v1_messages: bool = True
    faults: Faults = Faults()


def _alg(env: Mapping[str, str]) -> Alg:
    value = env.get("CREDIT_LEDGER_ISSUER_ALG") or "RS256"
    for alg in ALGS:
        if value == alg:
            return alg
    raise SettingsError(f"CREDIT_LEDGER_ISSUER_ALG must be one of {list(ALGS)}, got {value!r}")


def _salt(env: Mapping[str, str]) -> str | None:
    salt = env.get("CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT") or None
    if salt is not None and len(salt) < SALT_MIN_CHARS:
        raise SettingsError(
            f"CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT must have at least {SALT_MIN_CHARS} characters"
        )
    return salt


def read(env: Mapping[str, str], http: HttpSettings) -> IssuerSettings:
    port = env_int(env, "CREDIT_LEDGER_ISSUER_PORT", http.port + 2 if http.port else 0, 0, 65535)
    projector_port = env_int(
        env, "CREDIT_LEDGER_PROJECTOR_PORT", http.port + 1 if http.port else 0, 0, 65535
    )
    key_file = env.get("CREDIT_LEDGER_ISSUER_KEY_FILE") or None
    return IssuerSettings(
        key_file=Path(key_file).resolve() if key_file else None,
        alg=_alg(env),
        signing_kid=env.get("CREDIT_LEDGER_ISSUER_SIGNING_KID") or None,
        public_url=(
            env.get("CREDIT_LEDGER_ISSUER_PUBLIC_URL") or f"http://{http.host}:{port}"
        ).rstrip("/"),
        api_key=env.get("CREDIT_LEDGER_ISSUER_API_KEY") or None,
        learner_hash_salt=_salt(env),
        dead_letter_max_deliveries=env_int(
            env, "CREDIT_LEDGER_ISSUER_DEAD_LETTER_MAX_DELIVERIES", 10, 1, 100
        ),
        port=port,
        projector_url=(
            env.get("CREDIT_LEDGER_PROJECTOR_URL") or f"http://{http.host}:{projector_port}"
        ).rstrip("/"),
        name=env.get("CREDIT_LEDGER_ISSUER_NAME") or "Credit ledger qualifications issuer",
        ack_wait_s=env_float(env, "CREDIT_LEDGER_ISSUER_ACK_WAIT_S", 30.0, 1.0, 600.0),
        retry_backoff_max_s=env_float(
            env, "CREDIT_LEDGER_ISSUER_RETRY_BACKOFF_MAX_S", 30.0, 0.1, 600.0
        ),
        nsqf_url=env.get("CREDIT_LEDGER_ISSUER_NSQF_URL") or "https://www.ncvet.gov.in/",
        history_cache_learners=env_int(
            env, "CREDIT_LEDGER_ISSUER_HISTORY_CACHE_LEARNERS", 10_000, 1, 10_000_000
        ),
        reconcile_interval_s=env_float(
            env, "CREDIT_LEDGER_ISSUER_RECONCILE_INTERVAL_S", 300.0, 0.1, 86_400.0
        ),
        reconcile_grace_s=env_float(
            env, "CREDIT_LEDGER_ISSUER_RECONCILE_GRACE_S", 60.0, 0.0, 86_400.0
        ),
        publish_v1_messages=env_bool(env, "CREDIT_LEDGER_ISSUER_PUBLISH_V1", True),
        faults=Faults(
            crash_after_award_append=env_bool(
                env, "CREDIT_LEDGER_ISSUER_FAULT_CRASH_AFTER_AWARD", False
            ),
            skip_first_ack=env_bool(env, "CREDIT_LEDGER_ISSUER_FAULT_SKIP_FIRST_ACK", False),
        ),
    )
