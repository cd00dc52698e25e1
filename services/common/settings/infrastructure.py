"""Where the stores are: PostgreSQL, NATS, the data directory, and how much of each to use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from services.common.settings.env import env_int


class InfraSettings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None
    nats_url: str | None
    data_dir: Path
    db_pool_size: int
    nats_stream_replicas: int


def read(env: Mapping[str, str]) -> InfraSettings:
    return InfraSettings(
        database_url=env.get("DATABASE_URL") or None,
        nats_url=env.get("NATS_URL") or None,
        data_dir=Path(env.get("CREDIT_LEDGER_DATA_DIR") or ".data").resolve(),
        db_pool_size=env_int(env, "CREDIT_LEDGER_DB_POOL_SIZE", 10, 2, 200),
        nats_stream_replicas=env_int(env, "CREDIT_LEDGER_NATS_STREAM_REPLICAS", 1, 1, 5),
    )
