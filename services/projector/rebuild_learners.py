"""Phase 2 of a partition's rebuild: each learner folded once, banks and progress by COPY.

The learners' events come back from phase 1's copy in one index scan over the
partition's buckets, in learner then log order. Three tasks share the rebuild's connection, one
statement at a time, so that PostgreSQL works while this process folds:

- a reader fetches and decodes the next rows ahead of the fold (at most
  ``READ_AHEAD_CHUNKS`` chunks of complete learners);
- the fold evaluates each rule once per learner, at the last event that touched it
  (``domain.replay.last_touches`` and ``judge``: the progress the live fold leaves), and
  renders the rows;
- a writer COPYs each ``LEARNERS_PER_COPY`` learners' rows while the fold goes on (one
  COPY in flight).

Memory stays bounded by those chunks, whatever the size of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import msgspec

from domain.bank_summary import summarize
from domain.replay import Timed, judge, last_touches
from domain.shelf_life import utc_day
from domain.views import bank_view, decision_view
from proto.events import decode_event
from proto.partitions import Partition, learner_bucket
from services.projector.bank_snapshot import encode_bank
from services.projector.rebuild_log import CatalogTimeline
from services.projector.rebuild_progress import StageClock, progress_bar

FETCH_ROWS = 2000
READ_AHEAD_CHUNKS = 8
# A learner's rows (a bank and a few progress decisions) are kilobytes: fewer per COPY keeps
# the peak memory of a big log that of a small one.
LEARNERS_PER_COPY = 250
LEARNERS_PER_PAUSE = 8
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
# One index scan over the partition's buckets, in index order (no sort).
HISTORY_QUERY = (
    "SELECT learner_id, data::text AS data, position, recorded_at, stream_version"
    " FROM projector.events WHERE bucket = ANY($1::smallint[]) AND learner_id IS NOT NULL"
    " ORDER BY bucket, learner_id, position"
)
_encoder = msgspec.json.Encoder()

# (learner, its stream's last version, its events in log order)
History = tuple[str, int, list[Timed]]
_Chunk = list[History] | BaseException | None


async def project_learners(
    conn: asyncpg.Connection,
    catalogs: CatalogTimeline,
    partition: Partition,
    events: int,
    progress: bool,
    clock: StageClock,
) -> int:
    """Fold every learner of ``partition`` from phase 1's copy (``events`` learner events,
    the progress bar's total: counting the learners would cost a scan); returns how many
    learners there were.

    CPU stages: ``read_back`` (decoding the rows fetched), ``fold`` (the events into the
    bank, and which rules each touched), ``rules`` (each rule evaluated at its last touch),
    ``views`` (rendering the rows), ``copy_read_model`` (the rest: the driver, COPY encoding, the
    event loop)."""
    started = time.process_time()
    turn = asyncio.Lock()  # one statement at a time on the connection
    chunks: asyncio.Queue[_Chunk] = asyncio.Queue(maxsize=READ_AHEAD_CHUNKS)
    reader = asyncio.create_task(_read_histories(conn, turn, partition, chunks, clock))
    writer = _Writer(conn, turn)
    banks: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    learners = 0
    try:
        desc = f"rebuild {partition}: learners"
        with progress_bar(events, desc, "event", progress, partition) as bar:
            while (chunk := await chunks.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                for start in range(0, len(chunk), LEARNERS_PER_PAUSE):
                    _render(
                        chunk[start : start + LEARNERS_PER_PAUSE], catalogs, banks, decisions, clock
                    )
                    # Let the reader and the writer move their statements' rows through
                    # the socket (a few kilobytes each turn), so that PostgreSQL works
                    # while this folds on.
                    await asyncio.sleep(0)
                learners += len(chunk)
                bar.update(sum(len(history) for _, _, history in chunk))
                if len(banks) >= LEARNERS_PER_COPY:
                    await writer.submit(banks, decisions)
                    banks, decisions = [], []
            await writer.submit(banks, decisions)
            await writer.drain()
        await reader
    finally:
        await _stop(reader, writer)
    others = ("read_back", "fold", "rules", "views")
    rest = time.process_time() - started - sum(clock.seconds.get(s, 0.0) for s in others)
    clock.add("copy_read_model", rest)
    return learners


def _render(
    chunk: list[History],
    catalogs: CatalogTimeline,
    banks: list[tuple[Any, ...]],
    decisions: list[tuple[Any, ...]],
    clock: StageClock,
) -> None:
    fold_s = rules_s = views_s = 0.0
    for learner, version, history in chunk:
        started = time.process_time()
        bank, touches = last_touches(learner, history, catalogs.at)
        folded = time.process_time()
        last = judge(touches)
        judged = time.process_time()
        at = bank.recorded_at or history[-1][2]
        bucket = learner_bucket(learner)
        summary = _encoder.encode(bank_view(summarize(bank, utc_day(at)))).decode()
        banks.append((learner, bank.position, summary, at, encode_bank(bank), bucket, version))
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
        fold_s += folded - started
        rules_s += judged - folded
        views_s += time.process_time() - judged
    clock.add("fold", fold_s)
    clock.add("rules", rules_s)
    clock.add("views", views_s)


async def _read_histories(
    conn: asyncpg.Connection,
    turn: asyncio.Lock,
    partition: Partition,
    chunks: asyncio.Queue[_Chunk],
    clock: StageClock,
) -> None:
    """Complete learners' histories into ``chunks``, then None (or the error that stopped
    the reading)."""
    try:
        async with turn:
            cursor = await conn.cursor(HISTORY_QUERY, list(partition.buckets))
        pending: History | None = None
        while True:
            async with turn:
                rows = await cursor.fetch(FETCH_ROWS)
            started = time.process_time()
            chunk, pending = _histories(rows, pending)
            if len(rows) < FETCH_ROWS and pending is not None:
                chunk.append(pending)
            clock.add("read_back", time.process_time() - started)
            if chunk:
                await chunks.put(chunk)
            if len(rows) < FETCH_ROWS:
                break
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        # The fold may be waiting for a chunk: hand it the error (cancelled instead if
        # the fold stops first).
        await chunks.put(error)
        raise
    await chunks.put(None)


def _histories(
    rows: list[asyncpg.Record], pending: History | None
) -> tuple[list[History], History | None]:
    """The learners ``rows`` complete (``pending`` continued first), and the last one,
    which the next rows may continue."""
    done: list[History] = []
    current = pending
    for learner, data, position, recorded_at, version in rows:
        if current is None or current[0] != learner:
            if current is not None:
                done.append(current)
            current = (learner, version, [])
        else:
            current = (learner, version, current[2])
        current[2].append((decode_event(data), position, recorded_at))
    return done, current


class _Writer:
    """COPYs rows while the fold goes on: one COPY in flight, its error raised at the next
    ``submit`` or at ``drain``."""

    def __init__(self, conn: asyncpg.Connection, turn: asyncio.Lock) -> None:
        self._conn = conn
        self._turn = turn
        self._flight: asyncio.Task[None] | None = None

    async def submit(self, banks: list[tuple[Any, ...]], decisions: list[tuple[Any, ...]]) -> None:
        await self.drain()
        if banks or decisions:
            self._flight = asyncio.create_task(self._copy(banks, decisions))

    async def drain(self) -> None:
        if self._flight is not None:
            flight, self._flight = self._flight, None
            await flight

    def cancel(self) -> asyncio.Task[None] | None:
        if self._flight is not None:
            self._flight.cancel()
        return self._flight

    async def _copy(self, banks: list[tuple[Any, ...]], decisions: list[tuple[Any, ...]]) -> None:
        async with self._turn:
            await _copy(self._conn, "credit_banks", BANK_COLUMNS, banks)
            await _copy(self._conn, "progress", PROGRESS_COLUMNS, decisions)


async def _stop(reader: asyncio.Task[None], writer: _Writer) -> None:
    """Both helper tasks ended (cancelled if still running) before the transaction ends."""
    reader.cancel()
    tasks = [t for t in (reader, writer.cancel()) if t is not None]
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


async def _copy(
    conn: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        await conn.copy_records_to_table(
            table, schema_name="projector", columns=columns, records=rows
        )


__all__ = ["History", "project_learners"]
