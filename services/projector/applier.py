"""Applies one run of a partition's log entries in one transaction with its checkpoint.

Used by the live worker for what JetStream delivers and what it fills from the ledger,
so both fold, decide and store alike.
"""

from __future__ import annotations

import asyncpg

from proto.partitions import Partition
from services.projector import store
from services.projector.log_entry import LogEntry
from services.projector.projection import BatchOutcome, Projection


async def apply_batch(
    pool: asyncpg.Pool,
    projection: Projection,
    partition: Partition,
    entries: list[LogEntry],
    *,
    applied: int,
    watermark: int = 0,
    publish_bank_updates: bool,
) -> tuple[BatchOutcome, int]:
    """Commit ``entries`` (all past ``applied``, the checkpoint, in order), moving the
    checkpoint to the last of them or to ``watermark`` if that is further; returns the
    staged outcome and how many outbox messages it queued. Raises ``StreamGap`` (and
    changes nothing) when an entry is not the next of its stream, and ``CheckpointMoved``
    if the checkpoint was not ``applied``. The projection's caches change only after the
    commit."""
    if entries[0].position <= applied:
        raise RuntimeError(
            f"partition {partition} is at {applied}, but an entry is at {entries[0].position}"
        )
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                outcome = await projection.apply(
                    entries, lambda learners: store.load_banks(conn, learners)
                )
                queued = await store.write_batch(
                    conn,
                    outcome,
                    partition,
                    applied,
                    watermark,
                    publish_bank_updates=publish_bank_updates,
                )
        except Exception:
            projection.forget()
            raise
    projection.commit(outcome)
    return outcome, queued
