"""Rebuilds the read model from the ledger's log, a partition per process, with progress bars.

A partition's rebuild publishes nothing, so it does less than the live worker:

1. it streams the partition's events (GET /v1/log/ndjson?partition=k&of=N: its learners'
   and every catalog event) into the projector's copy, ``projector.events``, by COPY,
   folding only the catalog on the way;
2. it reads its learners' events back, bucket by bucket and learner by learner, and folds
   each learner once, with each rule evaluated once per learner
   (``domain.replay.last_decisions``: the progress the live fold would leave), COPYing
   banks and progress rows;
3. it sets the partition's checkpoint to the ledger head it read up to.

Memory stays bounded by one learner and one COPY chunk, whatever the size of the log.
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
import bisect
import contextlib
import multiprocessing
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import structlog
from tqdm import tqdm

from domain.bank_summary import summarize
from domain.catalog import Catalog, evolve_catalog
from domain.replay import Timed, last_decisions
from domain.shelf_life import utc_day
from domain.views import bank_view, decision_view
from proto.events import decode_event
from proto.partitions import Partition, all_partitions, learner_bucket
from services.common import db
from services.common.ledger_client import LedgerClient, RawRecordedEvent
from services.projector import store
from services.projector.bank_snapshot import encode_bank
from services.projector.log_entry import learner_of

log = structlog.get_logger(__name__)

COPY_ROWS = 5000
# A learner's rows (a bank and a few progress decisions) are kilobytes: fewer per COPY keeps
# the peak memory of a big log that of a small one.
LEARNERS_PER_COPY = 500
# How long a partition's rebuild waits for a worker that is letting go of its lock.
LOCK_WAIT_S = 10.0
EVENT_COLUMNS = (
    "position",
    "stream",
    "type",
    "data",
    "recorded_at",
    "learner_id",
    "bucket",
    "stream_version",
)
BANK_COLUMNS = (
    "learner_id",
    "position",
    "summary",
    "updated_at",
    "snapshot",
    "bucket",
    "stream_version",
)
PROGRESS_COLUMNS = (
    "learner_id",
    "qualification_code",
    "rule_version",
    "satisfied",
    "position",
    "decision",
    "bucket",
)
_encoder = msgspec.json.Encoder()


class ProjectorRunning(RuntimeError):
    """A projector worker (or another rebuild) holds the lead; a rebuild must not run beside it."""


@dataclass
class StageClock:
    """CPU seconds of this process per stage of a rebuild (what the benchmark reports)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - started


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
            read = await _copy_log(conn, catalog_conn, ledger, partition, head, spec, clock)
            learners = await _project_learners(conn, read.catalogs, partition, spec, clock)
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


@dataclass
class CatalogTimeline:
    """The catalog after each catalog event, to look up the one in force at a position."""

    starts: list[int] = field(default_factory=lambda: [0])
    catalogs: list[Catalog] = field(default_factory=lambda: [Catalog()])
    last_position: int = 0

    def add(self, recorded: RawRecordedEvent) -> None:
        event = decode_event(recorded.data)
        catalog = evolve_catalog(self.catalogs[-1], event, recorded.position, recorded.recorded_at)
        if catalog is not self.catalogs[-1]:
            self.starts.append(recorded.position)
            self.catalogs.append(catalog)

    def at(self, position: int) -> Catalog:
        return self.catalogs[bisect.bisect_right(self.starts, position) - 1]


@dataclass
class LogRead:
    catalogs: CatalogTimeline
    events: int = 0


async def _copy_log(
    conn: asyncpg.Connection,
    catalog_conn: asyncpg.Connection,
    ledger: LedgerClient,
    partition: Partition,
    head: int,
    spec: RebuildSpec,
    clock: StageClock,
) -> LogRead:
    """Phase 1: the partition's events into ``projector.events`` (its learners' by COPY in
    the rebuild's transaction; the catalog's that are missing, on their own connection,
    so rebuilds of several partitions never wait on each other's transactions); the
    catalog's timeline on the way."""
    read = LogRead(CatalogTimeline())
    timeline = read.catalogs
    rows: list[tuple[Any, ...]] = []
    catalog_rows: list[tuple[Any, ...]] = []
    started = time.process_time()
    with _bar(head, f"rebuild {partition}: log", "position", spec.progress, partition) as bar:
        async for recorded in ledger.log_ndjson_raw(0, partition=partition):
            if recorded.position <= timeline.last_position:
                raise RuntimeError(
                    f"the ledger sent position {recorded.position} after"
                    f" {timeline.last_position}: the log must come in order"
                )
            timeline.last_position = recorded.position
            read.events += 1
            learner = learner_of(recorded.stream)
            if learner is None:
                timeline.add(recorded)
                catalog_rows.append(_event_row(recorded, None))
                continue
            rows.append(_event_row(recorded, learner))
            if len(rows) >= COPY_ROWS:
                with clock.stage("copy_log"):
                    await _copy(conn, "events", EVENT_COLUMNS, rows)
                bar.update(timeline.last_position - bar.n)
                rows = []
        with clock.stage("copy_log"):
            await _copy(conn, "events", EVENT_COLUMNS, rows)
            await _add_catalog_rows(catalog_conn, catalog_rows)
        bar.update(max(head, timeline.last_position) - bar.n)
    # What the phase spent besides its COPYs: reading and decoding the NDJSON, the catalog.
    clock.seconds["read_log"] = time.process_time() - started - clock.seconds["copy_log"]
    return read


async def _add_catalog_rows(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Catalog rows the copy lacks, committed at once; in position order, like the live
    workers' inserts, so concurrent inserters take the rows' locks in one order."""
    if not rows:
        return
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMPORARY TABLE rebuild_catalog (LIKE projector.events) ON COMMIT DROP"
        )
        await conn.copy_records_to_table("rebuild_catalog", columns=EVENT_COLUMNS, records=rows)
        await conn.execute(
            "INSERT INTO projector.events SELECT * FROM rebuild_catalog ORDER BY position"
            " ON CONFLICT (position) DO NOTHING"
        )


async def _project_learners(
    conn: asyncpg.Connection,
    catalogs: CatalogTimeline,
    partition: Partition,
    spec: RebuildSpec,
    clock: StageClock,
) -> int:
    """Phase 2: each learner's events folded once; banks and progress by COPY."""
    banks: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    learners = 0
    total = await conn.fetchval(
        "SELECT count(DISTINCT learner_id) FROM projector.events"
        " WHERE bucket = ANY($1::smallint[]) AND learner_id IS NOT NULL",
        list(partition.buckets),
    )
    desc = f"rebuild {partition}: learners"
    with _bar(total, desc, "learner", spec.progress, partition) as bar:
        async for learner, version, history in _histories(conn, partition, clock):
            with clock.stage("fold_and_rules"):
                bank, last = last_decisions(learner, history, catalogs.at)
            with clock.stage("views"):
                at = bank.recorded_at or history[-1][2]
                bucket = learner_bucket(learner)
                summary = bank_view(summarize(bank, utc_day(at)))
                summary_json = _encoder.encode(summary).decode()
                banks.append(
                    (learner, bank.position, summary_json, at, encode_bank(bank), bucket, version)
                )
                decisions.extend(
                    (
                        learner,
                        code,
                        d.rule_version,
                        d.satisfied,
                        d.bank_position,
                        _encoder.encode(decision_view(d)).decode(),
                        bucket,
                    )
                    for code, d in sorted(last.items())
                )
            learners += 1
            if len(banks) >= LEARNERS_PER_COPY:
                with clock.stage("copy_read_model"):
                    await _flush(conn, banks, decisions)
                bar.update(len(banks))
                banks, decisions = [], []
        with clock.stage("copy_read_model"):
            await _flush(conn, banks, decisions)
        bar.update(len(banks))
    return learners


async def _histories(
    conn: asyncpg.Connection, partition: Partition, clock: StageClock
) -> AsyncIterator[tuple[str, int, list[Timed]]]:
    """(learner, its stream's last version, events in log order) for each learner of the
    partition, read back from the copy a bucket at a time (each an index range)."""
    for bucket in partition.buckets:
        current: str | None = None
        version = 0
        history: list[Timed] = []
        rows = conn.cursor(
            "SELECT learner_id, data::text AS data, position, recorded_at, stream_version"
            " FROM projector.events WHERE bucket = $1 AND learner_id IS NOT NULL"
            " ORDER BY learner_id, position",
            bucket,
            prefetch=COPY_ROWS,
        ).__aiter__()
        while True:
            with clock.stage("read_back"):
                try:
                    row = await rows.__anext__()
                except StopAsyncIteration:
                    break
                event = decode_event(row["data"])
            if row["learner_id"] != current:
                if current is not None:
                    yield current, version, history
                current, history = row["learner_id"], []
            history.append((event, row["position"], row["recorded_at"]))
            version = row["stream_version"]
        if current is not None:
            yield current, version, history


async def _flush(
    conn: asyncpg.Connection, banks: list[tuple[Any, ...]], decisions: list[tuple[Any, ...]]
) -> None:
    await _copy(conn, "credit_banks", BANK_COLUMNS, banks)
    await _copy(conn, "progress", PROGRESS_COLUMNS, decisions)


async def _copy(
    conn: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        await conn.copy_records_to_table(
            table, schema_name="projector", columns=columns, records=rows
        )


def _event_row(recorded: RawRecordedEvent, learner: str | None) -> tuple[Any, ...]:
    return (
        recorded.position,
        recorded.stream,
        recorded.type,
        bytes(recorded.data).decode(),
        recorded.recorded_at,
        learner,
        None if learner is None else learner_bucket(learner),
        recorded.stream_version,
    )


def _bar(total: int, desc: str, unit: str, progress: bool, partition: Partition) -> tqdm[Any]:
    # One line per partition: the rebuilds of all partitions run side by side.
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        disable=not progress,
        file=sys.stderr,
        position=partition.index,
    )
