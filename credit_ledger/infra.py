"""Bringing up what the services stand on: migrations, JetStream streams, embedded servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.migrations import migrate
from services.common.messaging import connect_nats, declare_ledger_stream
from services.projector.nats_setup import declare_credit_stream


async def apply_migrations(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def declare_streams(nats_url: str, replicas: int) -> None:
    """Every JetStream stream the services use, declared explicitly (a projector partition
    binds its own consumer at its checkpoint when it takes the lead)."""
    nc = await connect_nats(nats_url, "credit-ledger-admin")
    try:
        js = nc.jetstream(timeout=10)
        await declare_ledger_stream(js, replicas)
        await declare_credit_stream(js, replicas)
    finally:
        await nc.close()


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    nats_url: str


@contextlib.contextmanager
def embedded_servers(
    data_dir: Path, database_url: str | None, nats_url: str | None
) -> Iterator[Endpoints]:
    """Start an embedded PostgreSQL / nats-server for each URL that is not given."""
    postgres = EmbeddedPostgres(data_dir / "postgres") if database_url is None else None
    nats = EmbeddedNats(data_dir / "nats") if nats_url is None else None
    try:
        if postgres is not None:
            postgres.start()
        if nats is not None:
            nats.start()
        yield Endpoints(
            database_url=postgres.url if postgres is not None else str(database_url),
            nats_url=nats.url if nats is not None else str(nats_url),
        )
    finally:
        if nats is not None:
            nats.stop()
        if postgres is not None:
            postgres.stop()
