"""Typed settings, read once from the environment and passed in explicitly.

Every variable is documented in README.md ("Configuration"); keep the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec


class SettingsError(ValueError):
    """A configuration variable is missing or malformed."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None
    nats_url: str | None
    data_dir: Path
    http_host: str
    http_port: int
    public_base_url: str
    learner_id_pattern: str
    request_body_max_bytes: int
    batch_events_max: int
    group_commit_events_max: int
    group_commit_wait_ms: float
    group_commit_queue_max: int
    db_pool_size: int
    relay_enabled: bool
    relay_batch_max: int
    log_level: str
    log_format: str
    api_key_cache_ttl_s: float
    nats_stream_replicas: int
    ce_source: str
    ledger_url: str
    projector_api_key: str | None
    projector_port: int
    projector_cache_learners: int
    # The transparency log (services/ledger/audit): see README.md, "Auditing".
    tree_signing_key_file: Path | None
    tree_head_interval_s: float
    tree_builder_enabled: bool
    tree_batch_max: int
    audit_url: str
    audit_api_key: str | None


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def env_choice(env: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment), once."""
    env = os.environ if env is None else env
    pattern = env.get("CREDIT_LEDGER_LEARNER_ID_PATTERN") or r"^[0-9]{12}$"
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SettingsError(f"CREDIT_LEDGER_LEARNER_ID_PATTERN is not a regex: {exc}") from exc
    host = env.get("CREDIT_LEDGER_HTTP_HOST") or "127.0.0.1"
    port = env_int(env, "CREDIT_LEDGER_HTTP_PORT", 8000, 0, 65535)
    ledger_url = (env.get("CREDIT_LEDGER_LEDGER_URL") or f"http://{host}:{port}").rstrip("/")
    key_file = env.get("CREDIT_LEDGER_TREE_SIGNING_KEY_FILE") or None
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        nats_url=env.get("NATS_URL") or None,
        data_dir=Path(env.get("CREDIT_LEDGER_DATA_DIR") or ".data").resolve(),
        http_host=host,
        http_port=port,
        public_base_url=(env.get("CREDIT_LEDGER_PUBLIC_URL") or f"http://{host}:{port}").rstrip(
            "/"
        ),
        learner_id_pattern=pattern,
        request_body_max_bytes=env_int(
            env, "CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024
        ),
        batch_events_max=env_int(env, "CREDIT_LEDGER_BATCH_EVENTS_MAX", 1000, 1, 10_000),
        group_commit_events_max=env_int(
            env, "CREDIT_LEDGER_GROUP_COMMIT_EVENTS_MAX", 2000, 1, 50_000
        ),
        group_commit_wait_ms=env_float(env, "CREDIT_LEDGER_GROUP_COMMIT_WAIT_MS", 1.0, 0.0, 1000.0),
        group_commit_queue_max=env_int(
            env, "CREDIT_LEDGER_GROUP_COMMIT_QUEUE_MAX", 10_000, 1, 1_000_000
        ),
        db_pool_size=env_int(env, "CREDIT_LEDGER_DB_POOL_SIZE", 10, 2, 200),
        relay_enabled=env_bool(env, "CREDIT_LEDGER_RELAY_ENABLED", True),
        relay_batch_max=env_int(env, "CREDIT_LEDGER_RELAY_BATCH_MAX", 500, 1, 10_000),
        log_level=env_choice(
            env, "CREDIT_LEDGER_LOG_LEVEL", "info", {"debug", "info", "warning", "error"}
        ),
        log_format=env_choice(env, "CREDIT_LEDGER_LOG_FORMAT", "json", {"json", "console"}),
        api_key_cache_ttl_s=env_float(env, "CREDIT_LEDGER_API_KEY_CACHE_TTL_S", 2.0, 0.0, 300.0),
        nats_stream_replicas=env_int(env, "CREDIT_LEDGER_NATS_STREAM_REPLICAS", 1, 1, 5),
        ce_source=env.get("CREDIT_LEDGER_CE_SOURCE") or "urn:credit-ledger:ledger",
        ledger_url=ledger_url,
        projector_api_key=env.get("CREDIT_LEDGER_PROJECTOR_API_KEY") or None,
        projector_port=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_PORT", port + 1 if port else 0, 0, 65535
        ),
        projector_cache_learners=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS", 10_000, 1, 10_000_000
        ),
        tree_signing_key_file=Path(key_file).resolve() if key_file else None,
        tree_head_interval_s=env_float(
            env, "CREDIT_LEDGER_TREE_HEAD_INTERVAL_S", 60.0, 0.1, 86_400.0
        ),
        tree_builder_enabled=env_bool(env, "CREDIT_LEDGER_TREE_BUILDER_ENABLED", True),
        tree_batch_max=env_int(env, "CREDIT_LEDGER_TREE_BATCH_MAX", 5000, 1, 100_000),
        audit_url=(env.get("CREDIT_LEDGER_AUDIT_URL") or ledger_url).rstrip("/"),
        audit_api_key=env.get("CREDIT_LEDGER_AUDIT_API_KEY") or None,
    )
