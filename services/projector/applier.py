"""Applies one contiguous run of log entries in one transaction with the checkpoint.

Used by the live worker and by the rebuild, so both fold, decide and store alike.
"""

from __future__ import annotations

import asyncpg

from services.projector import store
from services.projector.log_entry import LogEntry
from services.projector.projection import BatchOutcome, Projection


async def apply_batch(
    pool: asyncpg.Pool,
    projection: Projection,
    entries: list[LogEntry],
    *,
    publish_bank_updates: bool,
) -> tuple[BatchOutcome, int]:
    """Commit ``entries`` (which must start right after the checkpoint); returns the staged
    outcome and how many outbox messages it queued. The projection's caches change only
    after the commit succeeded."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                done = await store.checkpoint(conn, for_update=True)
                if entries[0].position != done + 1:
                    raise RuntimeError(
                        f"checkpoint is {done}, but the next entry is {entries[0].position}"
                    )
                outcome = await projection.apply(
                    entries, lambda learners: store.load_banks(conn, learners)
                )
                queued = await store.write_batch(
                    conn, outcome, publish_bank_updates=publish_bank_updates
                )
        except Exception:
            projection.forget()
            raise
    projection.commit(outcome)
    return outcome, queued
