"""Drops the read model and rebuilds it from position 0 with a progress bar.

Thresholds and the outbox are kept, and credit-bank messages are not re-sent, so a
rebuild never publishes a threshold event a second time.
"""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import structlog
from tqdm import tqdm

from domain.catalog import Catalog
from services.common import db
from services.common.ledger_client import LedgerClient
from services.projector import store
from services.projector.applier import apply_batch
from services.projector.log_entry import LogEntry, from_recorded
from services.projector.projection import Projection

log = structlog.get_logger(__name__)
REBUILD_BATCH_EVENTS = 2000


class ProjectorRunning(RuntimeError):
    """Another projector holds the lead; a rebuild must not run beside it."""


async def rebuild(
    database_url: str,
    ledger_url: str,
    api_key: str,
    cache_learners: int,
    role: str,
    *,
    progress: bool = True,
) -> int:
    """Rebuild from the ledger's log; returns the position reached."""
    lock_conn = await db.connect(database_url, role=role)
    pool = await db.create_pool(database_url, 4, role=role)
    ledger = LedgerClient(ledger_url, api_key)
    try:
        if not await lock_conn.fetchval(
            "SELECT pg_try_advisory_lock($1)", store.PROJECTOR_LOCK_KEY
        ):
            raise ProjectorRunning("a projector is running: stop it before rebuilding")
        async with pool.acquire() as conn:
            await store.reset_read_model(conn)
        projection = Projection(Catalog(), cache_learners)
        head = (await ledger.head()).position
        bar = tqdm(total=head, unit="event", desc="rebuild", disable=not progress, file=sys.stderr)
        batch: list[LogEntry] = []
        position = 0
        async for recorded in ledger.log_ndjson(0):
            batch.append(from_recorded(recorded))
            if len(batch) >= REBUILD_BATCH_EVENTS:
                position = await _apply(pool, projection, batch, bar)
                batch = []
        if batch:
            position = await _apply(pool, projection, batch, bar)
        bar.close()
        log.info("projector_rebuilt", position=position)
        return position
    finally:
        await ledger.close()
        await pool.close()
        await lock_conn.close()


async def _apply(
    pool: asyncpg.Pool, projection: Projection, batch: list[LogEntry], bar: tqdm[Any]
) -> int:
    outcome, _ = await apply_batch(pool, projection, batch, publish_bank_updates=False)
    bar.update(len(batch))
    return outcome.last_position
