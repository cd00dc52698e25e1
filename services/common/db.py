"""The asyncpg pool and connections of every service, each as its own restricted role."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
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


def connection_settings(role: str = APP_ROLE) -> dict[str, str]:
    # Every connection of a service runs as that service's role: the ledger's may only
    # SELECT and INSERT the log; the projector's reaches only its own schema.
    return {"role": role, "application_name": f"credit-ledger:{role}"}


async def create_pool(database_url: str, size: int, role: str = APP_ROLE) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min(2, size),
        max_size=size,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=300.0,
        server_settings=connection_settings(role),
        init=_init_connection,
    )
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def connect(database_url: str, role: str = APP_ROLE) -> asyncpg.Connection:
    """A dedicated connection (leadership locks, LISTEN) as a service's role."""
    conn: asyncpg.Connection = await asyncpg.connect(
        database_url,
        command_timeout=COMMAND_TIMEOUT_S,
        server_settings=connection_settings(role),
        timeout=5.0,
    )
    return conn


LEADERSHIP_RETRY_S = 1.0


async def await_leadership(conn: asyncpg.Connection, lock_key: int) -> None:
    """Block until this connection holds the session advisory lock ``lock_key``.

    One leader at a time (the relay, the projector): the lock is released when the
    connection closes, so a crashed leader's successor takes over by itself.
    """
    # Polling a lock another process holds: nothing in-process could signal its release.
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key):  # noqa: ASYNC110
        await asyncio.sleep(LEADERSHIP_RETRY_S)


@contextlib.asynccontextmanager
async def leadership(
    connect: Callable[[], Awaitable[asyncpg.Connection]], lock_key: int
) -> AsyncIterator[asyncpg.Connection]:
    """A dedicated connection that holds ``lock_key``: entered once it leads, closed on exit
    (which hands the lead to the next in line)."""
    conn = await connect()
    try:
        await await_leadership(conn, lock_key)
        yield conn
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=2)
