"""The asyncpg pool of the ledger: runs as the restricted application role."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

# A plain connection, or one lent by the pool: the queries take either.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

APP_ROLE = "credit_ledger_app"
COMMAND_TIMEOUT_S = 30.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: msgspec.json.encode(value).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )


def connection_settings() -> dict[str, str]:
    # Every connection of the app runs as the role that may only SELECT and INSERT the log.
    return {"role": APP_ROLE, "application_name": "credit-ledger"}


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min(2, size),
        max_size=size,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=300.0,
        server_settings=connection_settings(),
        init=_init_connection,
    )
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    """A dedicated connection (relay leadership, LISTEN) as the application role."""
    conn: asyncpg.Connection = await asyncpg.connect(
        database_url,
        command_timeout=COMMAND_TIMEOUT_S,
        server_settings=connection_settings(),
        timeout=5.0,
    )
    return conn
