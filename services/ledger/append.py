"""Group commit: concurrent appends share one transaction and one fsync (docs/architecture.md §3).

Requests queue up; one loop takes whatever is waiting (up to ``group_commit_events_max``
events, waiting at most ``group_commit_wait_ms`` for more), takes the append lock,
decides every candidate against the write model, inserts the accepted ones with
consecutive positions and a continued hash chain, and commits once. Each request gets its
own result: one invalid event never fails its neighbours. A batch request is atomic: if any
of its items is refused, none of them is written.

Groups are pipelined, ``PIPELINE_DEPTH`` in flight: the next group is gathered and sent
(its ``BEGIN`` and lock request waiting in PostgreSQL) while the one before commits, so the
requests that arrive during a commit do not wait for its answer, and its fsync, before
their own transaction starts. The append lock still admits one group at a time, and each
group reads the head and the write state only once it holds the lock: positions, the
chain and every decision are exactly as with one group at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from proto.canonical import GENESIS_HASH
from proto.events import SCHEMA_VERSION
from services.common.db import Conn
from services.common.lifecycle import BackgroundLoop, RunsInBackground
from services.common.round_trips import CombinedWrite
from services.common.settings.ledger import LedgerSettings
from services.ledger.fair_share import FairShare
from services.ledger.group import GroupBuilder, LogRow, Outcome, not_written, precheck
from services.ledger.metrics import LedgerMetrics
from services.ledger.write_model import Candidate
from services.ledger.write_model_store import load_group, persist_changes

log = structlog.get_logger(__name__)

# Transaction-level advisory lock held from head read to commit: position order is commit
# order, so a reader may trust "next position = last + 1" (a sequence cannot promise that).
APPEND_LOCK_KEY = 0x4C45444745524150
NOTIFY_CHANNEL = "ledger_appended"
# Groups in flight: one committing, the next waiting on the append lock. A third would only
# wait behind them, holding a connection.
PIPELINE_DEPTH = 2


@dataclass
class Submission:
    candidates: list[Candidate]
    atomic: bool
    future: asyncio.Future[list[Outcome]]
    enqueued_at: float = field(default_factory=time.perf_counter)


class LedgerBusy(Exception):
    """The append queue is full; the client should retry later (503)."""


class GroupCommitter(RunsInBackground):
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        learner_id_pattern: str,
        events_max: int,
        wait_ms: float,
        queue_max: int,
        metrics: LedgerMetrics,
        fair_share: FairShare | None = None,
    ) -> None:
        self._pool = pool
        self._fair_share = fair_share
        self._learner_pattern = re.compile(learner_id_pattern)
        self._events_max = events_max
        self._wait_s = wait_ms / 1000.0
        self._queue: asyncio.Queue[Submission] = asyncio.Queue(maxsize=queue_max)
        self._metrics = metrics
        self._loop = BackgroundLoop("group_commit", self._run)
        self._head = 0

    @classmethod
    def from_settings(
        cls,
        pool: asyncpg.Pool,
        ledger: LedgerSettings,
        metrics: LedgerMetrics,
        fair_share: FairShare | None = None,
    ) -> GroupCommitter:
        """The group commit the ledger's settings describe (the app's, the dev bootstrap's)."""
        return cls(
            pool,
            learner_id_pattern=ledger.learner_id_pattern,
            events_max=ledger.group_commit_events_max,
            wait_ms=ledger.group_commit_wait_ms,
            queue_max=ledger.group_commit_queue_max,
            metrics=metrics,
            fair_share=fair_share,
        )

    async def stop(self) -> None:
        await super().stop()
        while not self._queue.empty():
            submission = self._queue.get_nowait()
            if not submission.future.done():
                submission.future.set_exception(LedgerBusy("the ledger is shutting down"))

    async def submit(self, candidates: list[Candidate], *, atomic: bool) -> list[Outcome]:
        """Append ``candidates``; returns one outcome per candidate, in order."""
        outcomes = precheck(candidates, self._learner_pattern)
        if atomic and any(o is not None for o in outcomes):
            refused = [o if o is not None else not_written() for o in outcomes]
            self._record_outcomes(candidates, refused)
            return refused
        self._record_outcomes(candidates, outcomes)
        pending = [c for c, o in zip(candidates, outcomes, strict=True) if o is None]
        if pending:
            results = iter(await self._queued(pending, atomic))
            outcomes = [o if o is not None else next(results) for o in outcomes]
        return [o for o in outcomes if o is not None]

    async def _queued(self, pending: list[Candidate], atomic: bool) -> list[Outcome]:
        """``pending``'s outcomes, decided by the group commit; admitted first by the fair
        share of the requester's key (``KeyOverShare``), then by the bounded queue
        (``LedgerBusy``). A request's candidates share one actor."""
        key_id = pending[0].actor.key_id
        if self._fair_share is not None:
            self._fair_share.admit(key_id, len(pending))
        try:
            future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
            try:
                self._queue.put_nowait(Submission(pending, atomic, future))
            except asyncio.QueueFull as exc:
                raise LedgerBusy("the append queue is full") from exc
            return await future
        finally:
            if self._fair_share is not None:
                self._fair_share.done(key_id, len(pending))

    async def _run(self) -> None:
        slots = asyncio.Semaphore(PIPELINE_DEPTH)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                # A slot first, then the group: what queues while both slots are busy joins
                # the next group instead of waiting for a later one.
                await slots.acquire()
                try:
                    group = await self._gather()
                except BaseException:
                    slots.release()
                    raise
                task = asyncio.create_task(self._commit_and_answer(group))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            # Stopping: the groups already sent finish (their clients get their answers).
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _commit_and_answer(self, group: list[Submission]) -> None:
        started = time.perf_counter()
        try:
            results = await self._commit(group)
        except Exception as exc:
            log.exception("group_commit_failed", submissions=len(group))
            for submission in group:
                if not submission.future.done():
                    submission.future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        for submission, outcome in zip(group, results, strict=True):
            if not submission.future.done():
                submission.future.set_result(outcome)
            self._metrics.append_latency.observe(time.perf_counter() - submission.enqueued_at)
        self._metrics.group_commit_seconds.observe(elapsed)

    async def _gather(self) -> list[Submission]:
        group = [await self._queue.get()]
        size = len(group[0].candidates)
        deadline = time.monotonic() + self._wait_s
        while size < self._events_max:
            try:
                submission = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    submission = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            group.append(submission)
            size += len(submission.candidates)
        return group

    async def _commit(self, group: list[Submission]) -> list[list[Outcome]]:
        all_candidates = [c for s in group for c in s.candidates]
        async with self._pool.acquire() as conn, _locked_transaction(conn):
            head, existing, state = await load_group(conn, all_candidates)
            position = head.position if head else 0
            previous_hash = head.hash if head else GENESIS_HASH
            now = dt.datetime.now(dt.UTC)
            # recorded_at never runs backwards along the log, even if the clock does.
            recorded_at = max(now, head.recorded_at) if head else now
            batch = GroupBuilder(state, existing, position, previous_hash, recorded_at)
            results = [batch.add(s.candidates, atomic=s.atomic) for s in group]
            if batch.rows:
                write = CombinedWrite()
                write.add(INSERT_SQL, *insert_arguments(batch.rows))
                await persist_changes(conn, batch.state.changes, write)
                await write.execute(
                    conn, "SELECT pg_notify({0}, {1})", NOTIFY_CHANNEL, str(batch.position)
                )
        # Groups commit in lock order, but their tasks may resume out of it.
        self._head = max(self._head, batch.position)
        self._metrics.head_position.set(self._head)
        self._metrics.group_size.observe(len(all_candidates))
        self._metrics.record_outcomes(
            (type(candidate.event).__name__, outcome)
            for submission, outcomes in zip(group, results, strict=True)
            for candidate, outcome in zip(submission.candidates, outcomes, strict=True)
        )
        return results

    def _record_outcomes(
        self, candidates: list[Candidate], outcomes: Sequence[Outcome | None]
    ) -> None:
        """Count decided outcomes; None (not decided yet) is counted when it is."""
        self._metrics.record_outcomes(
            (type(candidate.event).__name__, outcome)
            for candidate, outcome in zip(candidates, outcomes, strict=True)
            if outcome is not None
        )


INSERT_SQL = """
    INSERT INTO ledger.events
        (position, event_id, stream, stream_version, type, schema_version, data, metadata,
         recorded_at, hash, bucket)
    SELECT p, e, s, v, t, {5}, convert_from(d, 'UTF8')::jsonb, convert_from(m, 'UTF8')::jsonb,
           r, h, b
    FROM unnest({0}::bigint[], {1}::uuid[], {2}::text[], {3}::bigint[], {4}::text[],
                {6}::bytea[], {7}::bytea[], {8}::timestamptz[], {9}::bytea[], {10}::smallint[])
        AS u(p, e, s, v, t, d, m, r, h, b)
"""


def insert_arguments(rows: list[LogRow]) -> tuple[Any, ...]:
    """``INSERT_SQL``'s arguments for ``rows``: what the group hands to asyncpg. The rows'
    fields are the columns, transposed at C speed; the JSON goes as the UTF-8 bytes it was
    encoded to (PostgreSQL converts it), and event ids as text (asyncpg encodes a uuid)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(LogRow._fields)
    position, event_id, stream, version, type_, data, metadata, recorded_at, hash_, bucket = columns
    return (
        position,
        event_id,
        stream,
        version,
        type_,
        SCHEMA_VERSION,
        data,
        metadata,
        recorded_at,
        hash_,
        bucket,
    )


@asynccontextmanager
async def _locked_transaction(conn: Conn) -> AsyncIterator[None]:
    """A transaction holding the append lock, begun in one round trip (both statements in
    one simple query); committed when the block ends, rolled back if it raises."""
    try:
        await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})")
        yield
    except BaseException:
        # A connection that cannot roll back (broken, or mid-cancellation) is rolled back
        # by the pool's reset, or closed, when it is released.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
