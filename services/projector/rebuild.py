"""Rebuilds the read model from the ledger's log, in one transaction, with progress bars.

A rebuild publishes nothing, so it does less than the live worker:

1. it streams the log (GET /v1/log/ndjson) into the projector's copy, ``projector.events``,
   by COPY, folding only the catalog on the way;
2. it reads that copy back learner by learner and folds each one's events once, with
   each rule evaluated once per learner (``domain.replay.last_decisions``: the progress
   the live fold would leave), COPYing banks and progress rows;
3. it sets the checkpoint to the last position read.

Memory stays bounded by one learner and one COPY chunk, whatever the size of the log.
Everything happens in one transaction: a rebuild that fails or is interrupted leaves the
read model as it was, and readers see the old model until the new one is committed.
Thresholds and the outbox are kept, so a rebuild never publishes a threshold twice.
"""

from __future__ import annotations

import bisect
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
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
EVENT_COLUMNS = ("position", "stream", "type", "data", "recorded_at", "learner_id")
BANK_COLUMNS = ("learner_id", "position", "summary", "updated_at", "snapshot")
PROGRESS_COLUMNS = (
    "learner_id",
    "qualification_code",
    "rule_version",
    "satisfied",
    "position",
    "decision",
)
_encoder = msgspec.json.Encoder()


class ProjectorRunning(RuntimeError):
    """Another projector holds the lead; a rebuild must not run beside it."""


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
    position: int
    learners: int
    stage_cpu_s: dict[str, float]


async def rebuild(
    database_url: str, ledger_url: str, api_key: str, role: str, *, progress: bool = True
) -> int:
    """Rebuild from the ledger's log; returns the position reached."""
    report = await rebuild_reporting(database_url, ledger_url, api_key, role, progress=progress)
    return report.position


async def rebuild_reporting(
    database_url: str, ledger_url: str, api_key: str, role: str, *, progress: bool = True
) -> RebuildReport:
    """``rebuild``, saying where its CPU time went."""
    clock = StageClock()
    conn = await db.connect(database_url, role=role)
    ledger = LedgerClient(ledger_url, api_key)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", store.PROJECTOR_LOCK_KEY):
            raise ProjectorRunning("a projector is running: stop it before rebuilding")
        head = (await ledger.head()).position
        async with conn.transaction():
            # DELETE, not TRUNCATE: readers keep the old model until the commit.
            await conn.execute(
                "DELETE FROM projector.events; DELETE FROM projector.credit_banks;"
                " DELETE FROM projector.progress"
            )
            catalogs = await _copy_log(conn, ledger, head, progress, clock)
            learners = await _project_learners(conn, catalogs, progress, clock)
            await conn.execute(
                "UPDATE projector.checkpoint SET position = $1", catalogs.last_position
            )
        log.info("projector_rebuilt", position=catalogs.last_position, learners=learners)
        return RebuildReport(catalogs.last_position, learners, clock.seconds)
    finally:
        await ledger.close()
        await conn.close()


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


async def _copy_log(
    conn: asyncpg.Connection, ledger: LedgerClient, head: int, progress: bool, clock: StageClock
) -> CatalogTimeline:
    """Phase 1: the log into ``projector.events``; the catalog's timeline on the way."""
    timeline = CatalogTimeline()
    rows: list[tuple[Any, ...]] = []
    started = time.process_time()
    with _bar(head, "rebuild: log", "event", progress) as bar:
        async for recorded in ledger.log_ndjson_raw(0):
            if recorded.position != timeline.last_position + 1:
                raise RuntimeError(
                    f"the ledger sent position {recorded.position} after"
                    f" {timeline.last_position}: the log must be read whole"
                )
            timeline.last_position = recorded.position
            learner = learner_of(recorded.stream)
            if learner is None:
                timeline.add(recorded)
            rows.append(_event_row(recorded, learner))
            if len(rows) >= COPY_ROWS:
                with clock.stage("copy_log"):
                    await _copy(conn, "events", EVENT_COLUMNS, rows)
                bar.update(len(rows))
                rows = []
        with clock.stage("copy_log"):
            await _copy(conn, "events", EVENT_COLUMNS, rows)
        bar.update(len(rows))
    # What the phase spent besides its COPYs: reading and decoding the NDJSON, the catalog.
    clock.seconds["read_log"] = time.process_time() - started - clock.seconds["copy_log"]
    return timeline


async def _project_learners(
    conn: asyncpg.Connection, catalogs: CatalogTimeline, progress: bool, clock: StageClock
) -> int:
    """Phase 2: each learner's events folded once; banks and progress by COPY."""
    banks: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    learners = 0
    total = await conn.fetchval(
        "SELECT count(DISTINCT learner_id) FROM projector.events WHERE learner_id IS NOT NULL"
    )
    with _bar(total, "rebuild: learners", "learner", progress) as bar:
        async for learner, history in _histories(conn, clock):
            with clock.stage("fold_and_rules"):
                bank, last = last_decisions(learner, history, catalogs.at)
            with clock.stage("views"):
                at = bank.recorded_at or history[-1][2]
                summary = bank_view(summarize(bank, utc_day(at)))
                summary_json = _encoder.encode(summary).decode()
                banks.append((learner, bank.position, summary_json, at, encode_bank(bank)))
                decisions.extend(
                    (
                        learner,
                        code,
                        d.rule_version,
                        d.satisfied,
                        d.bank_position,
                        _encoder.encode(decision_view(d)).decode(),
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
    conn: asyncpg.Connection, clock: StageClock
) -> AsyncIterator[tuple[str, list[Timed]]]:
    """(learner, events in log order) for each learner, read back from the copy."""
    current: str | None = None
    history: list[Timed] = []
    rows = conn.cursor(
        "SELECT learner_id, data::text AS data, position, recorded_at FROM projector.events"
        " WHERE learner_id IS NOT NULL ORDER BY learner_id, position",
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
                yield current, history
            current, history = row["learner_id"], []
        history.append((event, row["position"], row["recorded_at"]))
    if current is not None:
        yield current, history


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
    )


def _bar(total: int, desc: str, unit: str, progress: bool) -> tqdm[Any]:
    return tqdm(total=total, unit=unit, desc=desc, disable=not progress, file=sys.stderr)
