"""Phase 1 of a partition's rebuild: its part of the log into ``projector.events``, by COPY.

The partition's events (GET /v1/log/ndjson?partition=k&of=N: its learners' and every
catalog event) stream from the ledger straight into one COPY in the rebuild's
transaction, so the ledger, PostgreSQL and this process each work on their part at once.
Learners' events are stored as the JSON the ledger sent, undecoded; catalog events are
decoded for the catalog's timeline (what phase 2 judges each learner's events against).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from tqdm import tqdm

from domain.catalog import Catalog, evolve_catalog
from proto.events import decode_event
from proto.partitions import Partition, learner_bucket
from services.common.ledger_client import LedgerClient, RawRecordedEvent
from services.projector.log_entry import learner_of
from services.projector.rebuild_progress import StageClock, progress_bar

EVENT_COLUMNS = (
    "position",
    "stream",
    "type",
    "data",
    "recorded_at",
    "learner_id",
    "bucket",
    "stream_version",
    "institution_id",
)


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
    catalogs: CatalogTimeline = field(default_factory=CatalogTimeline)
    events: int = 0
    catalog_rows: list[tuple[Any, ...]] = field(default_factory=list)


async def copy_log(
    conn: asyncpg.Connection,
    catalog_conn: asyncpg.Connection,
    ledger: LedgerClient,
    partition: Partition,
    head: int,
    progress: bool,
    clock: StageClock,
) -> LogRead:
    """The partition's learners' events into ``projector.events`` in ``conn``'s transaction;
    the catalog's rows that are missing, committed at once on ``catalog_conn`` (every
    partition holds them, and rebuilds of several partitions must not wait on each other's
    transactions); the catalog's timeline on the way.

    CPU stages: ``read_log`` is reading and parsing the NDJSON and making rows,
    ``copy_log`` the rest of the phase (the driver's COPY encoding, the event loop)."""
    read = LogRead()
    started = time.process_time()
    with progress_bar(head, f"rebuild {partition}: log", "position", progress, partition) as bar:
        rows = _learner_rows(ledger, partition, read, bar, clock)
        await conn.copy_records_to_table(
            "events", schema_name="projector", columns=EVENT_COLUMNS, records=rows
        )
        await _add_catalog_rows(catalog_conn, read.catalog_rows)
        bar.update(max(head, read.catalogs.last_position) - bar.n)
    clock.add("copy_log", time.process_time() - started - clock.seconds.get("read_log", 0.0))
    return read


async def _learner_rows(
    ledger: LedgerClient, partition: Partition, read: LogRead, bar: tqdm[Any], clock: StageClock
) -> AsyncIterator[tuple[Any, ...]]:
    timeline = read.catalogs
    batches = ledger.log_ndjson_raw_batches(0, partition=partition).__aiter__()
    while True:
        started = time.process_time()
        try:
            batch = await batches.__anext__()
        except StopAsyncIteration:
            clock.add("read_log", time.process_time() - started)
            return
        rows = []
        for recorded in batch:
            if recorded.position <= timeline.last_position:
                raise RuntimeError(
                    f"the ledger sent position {recorded.position} after"
                    f" {timeline.last_position}: the log must come in order"
                )
            timeline.last_position = recorded.position
            learner = learner_of(recorded.stream)
            if learner is None:
                timeline.add(recorded)
                read.catalog_rows.append(_event_row(recorded, None))
            else:
                rows.append(_event_row(recorded, learner))
        read.events += len(batch)
        clock.add("read_log", time.process_time() - started)
        bar.update(timeline.last_position - bar.n)
        for row in rows:
            yield row


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


class _Named(msgspec.Struct):
    """The one field of an event that phase 1 reads (the rest stays undecoded JSON)."""

    institution_id: str | None = None


_named_decoder = msgspec.json.Decoder(_Named)


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
        _named_decoder.decode(recorded.data).institution_id,
    )
