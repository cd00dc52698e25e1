"""Rebuilds the read model from the ledger's log, a partition per process, with progress bars.

A partition's rebuild publishes nothing, so it does less than the live worker:

1. it streams the partition's events (GET /v1/log/ndjson?partition=k&of=N: its learners'
   and every catalog event) into the projector's copy, ``projector.events``, in one COPY,
   folding only the catalog on the way (``rebuild_log``);
2. it reads its learners' events back, bucket by bucket and learner by learner, and folds
   each learner once, with each rule evaluated once per learner, COPYing banks and
   progress rows, the reads, the fold and the COPYs overlapping (``rebuild_learners``);
3. it sets the partition's checkpoint to the ledger head it read up to.

Memory stays bounded by a few chunks of rows, whatever the size of the log.
A partition's rebuild is one transaction: one that fails or is interrupted leaves the
partition's rows as they were, and readers see the old rows until the new ones commit.
Catalog rows are every partition's; each rebuild adds those missing, in a short
transaction of their own, and deletes none. Thresholds and the outbox are kept, so a
rebuild never publishes a threshold twice.

``rebuild`` rebuilds every partition of a layout at once, one process each, holding the
projector lock alone (no worker of any layout runs meanwhile); it is also how the number
of partitions changes (docs/architecture.md, "Changing the number of partitions").
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import asyncpg
import structlog

from proto.partitions import Partition, all_partitions
from services.common import db
from services.common.ledger_client import LedgerClient
from services.projector import store
from services.projector.rebuild_learners import project_learners
from services.projector.rebuild_log import copy_log
from services.projector.rebuild_progress import StageClock

log = structlog.get_logger(__name__)

# How long a partition's rebuild waits for a worker that is letting go of its lock.
LOCK_WAIT_S = 10.0


class ProjectorRunning(RuntimeError):
    """A projector worker (or another rebuild) holds the lead; a rebuild must not run beside it."""


@dataclass(frozen=True)
class RebuildReport:
    position: int  # the lowest partition checkpoint reached
    learners: int
    events: int  # events read, counting each catalog event once per partition
    stage_cpu_s: dict[str, float]


@dataclass(frozen=True)
class RebuildSpec:
    """What a partition's rebuild needs, picklable for its process."""

    database_url: str
    ledger_url: str
    api_key: str
    role: str
    progress: bool = True


async def rebuild(
    database_url: str,
    ledger_url: str,
    api_key: str,
    role: str,
    *,
    partitions: int,
    progress: bool = True,
    in_processes: bool = True,
) -> int:
    """Rebuild every partition of ``partitions``; returns the lowest checkpoint reached."""
    spec = RebuildSpec(database_url, ledger_url, api_key, role, progress)
    return (await rebuild_reporting(spec, partitions, in_processes=in_processes)).position


async def rebuild_reporting(
    spec: RebuildSpec, partitions: int, *, in_processes: bool = True
) -> RebuildReport:
    """``rebuild``, a process per partition, saying where the CPU time went (summed).
    ``in_processes=False`` rebuilds the partitions one after another in this process
    (the same transactions, without the processes' start-up: for tests).

    Holds the projector lock alone for the whole rebuild, then drops the checkpoints of
    any other layout, whose rows the partitions of this one have all replaced."""
    conn = await db.connect(spec.database_url, role=spec.role)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", store.PROJECTOR_LOCK_KEY):
            raise ProjectorRunning("a projector is running: stop every partition before rebuilding")
        layout = all_partitions(partitions)
        if in_processes:
            reports = await _in_processes(spec, layout)
        else:
            reports = [await rebuild_partition(spec, p, alone=False) for p in layout]
        await conn.execute("DELETE FROM projector.checkpoints WHERE partitions <> $1", partitions)
    finally:
        await conn.close()
    stages: dict[str, float] = {}
    for report in reports:
        for stage, seconds in report.stage_cpu_s.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    return RebuildReport(
        position=min(r.position for r in reports),
        learners=sum(r.learners for r in reports),
        events=sum(r.events for r in reports),
        stage_cpu_s=stages,
    )


async def _in_processes(spec: RebuildSpec, partitions: list[Partition]) -> list[RebuildReport]:
    if len(partitions) == 1:
        return [await rebuild_partition(spec, partitions[0], alone=False)]
    # spawn, not fork: a forked child would share this process's event loop and sockets.
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=len(partitions), mp_context=context) as pool:
        return list(
            await asyncio.gather(
                *(loop.run_in_executor(pool, _rebuild_in_process, spec, p) for p in partitions)
            )
        )


def _rebuild_in_process(spec: RebuildSpec, partition: Partition) -> RebuildReport:
    return asyncio.run(rebuild_partition(spec, partition, alone=False))


async def rebuild_partition(
    spec: RebuildSpec, partition: Partition, *, alone: bool = True
) -> RebuildReport:
    """Rebuild one partition in one transaction. ``alone``: no whole rebuild holds the
    projector lock, so this one takes it shared, as a worker does (a worker of the same
    layout's other partitions may run meanwhile)."""
    clock = StageClock()
    conn = await db.connect(spec.database_url, role=spec.role)
    catalog_conn = await db.connect(spec.database_url, role=spec.role)
    ledger = LedgerClient(spec.ledger_url, spec.api_key)
    try:
        await _lock_partition(conn, partition, alone=alone)
        if alone:
            # One partition of another layout would leave two layouts side by side.
            await store.check_layout(conn, partition.count)
        head = (await ledger.head()).position
        async with conn.transaction():
            # DELETE, not TRUNCATE: readers keep the old rows until the commit.
            for table in ("events", "credit_banks", "progress"):
                await conn.execute(
                    f"DELETE FROM projector.{table} WHERE bucket % $1 = $2",
                    partition.count,
                    partition.index,
                )
            read = await copy_log(conn, catalog_conn, ledger, partition, head, spec.progress, clock)
            learners = await project_learners(
                conn,
                read.catalogs,
                partition,
                read.events - len(read.catalog_rows),
                spec.progress,
                clock,
            )
            watermark = max(head, read.catalogs.last_position)
            await store.set_checkpoint(conn, partition, watermark)
        log.info(
            "projector_partition_rebuilt",
            partition=str(partition),
            position=watermark,
            learners=learners,
        )
        return RebuildReport(watermark, learners, read.events, clock.seconds)
    finally:
        await ledger.close()
        await catalog_conn.close()
        await conn.close()


async def _lock_partition(conn: asyncpg.Connection, partition: Partition, *, alone: bool) -> None:
    key = store.partition_lock_key(partition)
    if alone and not await conn.fetchval(
        "SELECT pg_try_advisory_lock_shared($1)", store.PROJECTOR_LOCK_KEY
    ):
        raise ProjectorRunning("a rebuild of the whole read model is running")
    try:
        await asyncio.wait_for(db.await_leadership(conn, key), LOCK_WAIT_S)
    except TimeoutError:
        raise ProjectorRunning(
            f"partition {partition}'s worker is running: stop it before rebuilding"
        ) from None
