"""The ledger's own settings: what it accepts, how it group-commits and relays, and where
the other services reach it (``url``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from services.common.settings.env import SettingsError, env_bool, env_float, env_int
from services.common.settings.serving import HttpSettings


class LedgerSettings(msgspec.Struct, frozen=True, kw_only=True):
    learner_id_pattern: str
    batch_events_max: int
    group_commit_events_max: int
    group_commit_wait_ms: float
    group_commit_queue_max: int
    # Events one key may have waiting under contention, split among the keys waiting
    # (never below a full batch); 0: no fair share.
    fair_share_events: int
    relay_enabled: bool
    # HTTP worker processes of ``credit-ledger serve``; with more than one, the relay and the
    # tree builder run in processes of their own.
    workers: int
    relay_batch_max: int
    relay_in_flight_max: int
    ce_source: str
    url: str
    # The upload page (services/ledger/upload): the largest file, and how long a session lives.
    upload_max_bytes: int
    upload_session_hours: float
    # The learner's passbook page that a passbook link opens (None: the issuer's
    # public URL + /passbook), and how long a link works unless its request says.
    passbook_url: str | None
    passbook_link_days: int


def read(env: Mapping[str, str], http: HttpSettings) -> LedgerSettings:
    pattern = env.get("CREDIT_LEDGER_LEARNER_ID_PATTERN") or r"^[0-9]{12}$"
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SettingsError(f"CREDIT_LEDGER_LEARNER_ID_PATTERN is not a regex: {exc}") from exc
    return LedgerSettings(
        learner_id_pattern=pattern,
        batch_events_max=env_int(env, "CREDIT_LEDGER_BATCH_EVENTS_MAX", 1000, 1, 10_000),
        group_commit_events_max=env_int(
            env, "CREDIT_LEDGER_GROUP_COMMIT_EVENTS_MAX", 2000, 1, 50_000
        ),
        group_commit_wait_ms=env_float(env, "CREDIT_LEDGER_GROUP_COMMIT_WAIT_MS", 1.0, 0.0, 1000.0),
        group_commit_queue_max=env_int(
            env, "CREDIT_LEDGER_GROUP_COMMIT_QUEUE_MAX", 10_000, 1, 1_000_000
        ),
        fair_share_events=env_int(env, "CREDIT_LEDGER_FAIR_SHARE_EVENTS", 4000, 0, 1_000_000),
        relay_enabled=env_bool(env, "CREDIT_LEDGER_RELAY_ENABLED", True),
        workers=env_int(env, "CREDIT_LEDGER_WORKERS", 1, 1, 64),
        relay_batch_max=env_int(env, "CREDIT_LEDGER_RELAY_BATCH_MAX", 500, 1, 1_000),
        relay_in_flight_max=env_int(env, "CREDIT_LEDGER_RELAY_IN_FLIGHT_MAX", 1000, 1, 100_000),
        ce_source=env.get("CREDIT_LEDGER_CE_SOURCE") or "urn:credit-ledger:ledger",
        upload_max_bytes=env_int(
            env, "CREDIT_LEDGER_UPLOAD_MAX_BYTES", 32 * 1024 * 1024, 1024, 1024 * 1024 * 1024
        ),
        upload_session_hours=env_float(env, "CREDIT_LEDGER_UPLOAD_SESSION_HOURS", 8.0, 0.1, 168.0),
        passbook_url=(env.get("CREDIT_LEDGER_PASSBOOK_URL") or "").rstrip("/") or None,
        passbook_link_days=env_int(env, "CREDIT_LEDGER_PASSBOOK_LINK_DAYS", 7, 1, 30),
        url=(env.get("CREDIT_LEDGER_LEDGER_URL") or f"http://{http.host}:{http.port}").rstrip("/"),
    )
