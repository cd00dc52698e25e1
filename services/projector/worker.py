"""A partition's worker: pulls the partition's LEDGER messages, applies them in order,
commits each batch with the partition's checkpoint, then acknowledges.

A partition's positions are not contiguous (other partitions' learners lie between), so
a lost message is found by its stream: an event that is not the next version of its
learner's (or catalog) stream is a gap, filled from the ledger's partition-filtered read
API. An idle worker reads that API after its checkpoint: that finds an event lost at the
tail too, and moves the checkpoint (a watermark) to the head.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from proto.partitions import Partition
from proto.subjects import LEDGER_STREAM
from services.common import db
from services.common.ledger_client import LedgerClient
from services.common.lifecycle import BackgroundLoop, RunsInBackground
from services.common.messaging import fetch_ready, nats_connection
from services.projector import store
from services.projector.applier import apply_batch
from services.projector.log_entry import LogEntry, from_message, from_recorded
from services.projector.metrics import ProjectorMetrics
from services.projector.nats_setup import bind_projector_consumer, projector_consumer
from services.projector.projection import Projection, StreamGap

log = structlog.get_logger(__name__)

FETCH_MESSAGES_MAX = 500
# How long an idle pull waits. Each idle wait ends with one look at the ledger after the
# checkpoint (a page of the partition's events, mostly empty): it finds what was lost at
# the tail, and moves the checkpoint to the head past other partitions' events, so live
# answers are as of the head within this much of the system going quiet.
FETCH_TIMEOUT_S = 0.5
GAP_PAGE_EVENTS = 1000


class RebuildRunning(RuntimeError):
    """A rebuild of the whole read model holds the projector lock."""


@dataclass(frozen=True)
class WorkerConfig:
    nats_url: str
    partition: Partition
    cache_learners: int
    publish_bank_updates: bool = True


class ProjectorWorker(RunsInBackground):
    def __init__(
        self,
        config: WorkerConfig,
        pool: asyncpg.Pool,
        connect_lock: Callable[[], Awaitable[asyncpg.Connection]],
        ledger: LedgerClient,
        metrics: ProjectorMetrics,
        on_commit: asyncio.Event,
    ) -> None:
        self._config = config
        self.partition = config.partition
        self._pool = pool
        self._connect = connect_lock
        self._ledger = ledger
        self._metrics = metrics
        self._on_commit = on_commit
        self._loop = BackgroundLoop(
            f"projector-{self.partition.index}-of-{self.partition.count}",
            self._lead,
            after_each=self._projector_stopped,
        )
        self.projection: Projection | None = None
        self.is_leader = False
        # The checkpoint as this leader last committed it (only the leader moves it).
        self._applied = 0

    def _projector_stopped(self) -> None:
        self.is_leader = False

    async def _lead(self) -> None:
        partition = self.partition
        async with db.leadership(self._connect, store.partition_lock_key(partition)) as lock:
            if not await lock.fetchval(
                "SELECT pg_try_advisory_lock_shared($1)", store.PROJECTOR_LOCK_KEY
            ):
                raise RebuildRunning("the read model is being rebuilt")
            async with self._pool.acquire() as conn:
                await store.check_layout(conn, partition.count)
                done = await store.checkpoint(conn, partition)
                await store.set_checkpoint(conn, partition, done)
                catalog, versions = await store.load_catalog(conn, done)
            self.projection = Projection(catalog, versions, self._config.cache_learners)
            self._applied = done
            self.is_leader = True
            log.info("projector_leader", partition=str(partition), checkpoint=done)
            name = f"credit-ledger-{projector_consumer(partition)}"
            async with nats_connection(self._config.nats_url, name) as nc:
                js = nc.jetstream(timeout=10)
                await bind_projector_consumer(js, partition, done)
                await self._consume(js)

    async def _consume(self, js: JetStreamContext) -> None:
        subscription = await js.pull_subscribe_bind(
            durable=projector_consumer(self.partition), stream=LEDGER_STREAM
        )
        while True:
            try:
                # One message as soon as one is there, then whatever else is waiting. A
                # plain pull of many answers at once only while messages are waiting (its
                # no-wait request first); once the worker has caught up, its second,
                # lingering request holds the batch until it is full or the timeout ends,
                # so an event could wait most of FETCH_TIMEOUT_S (nats.py 2.16's
                # JetStreamContext.PullSubscription._fetch_n).
                messages = await fetch_ready(subscription, FETCH_MESSAGES_MAX, FETCH_TIMEOUT_S)
            except TimeoutError:  # nats.errors.TimeoutError is one too
                self._metrics.gap_filled.inc(await self.catch_up())
                continue
            await self._handle(messages)

    async def _handle(self, messages: list[Msg]) -> None:
        entries = [from_message(m.data, m.headers) for m in messages]
        applied = await self.apply(entries)
        # The consumer acknowledges all up to a message (AckPolicy.ALL), and a fetch
        # delivers in stream order.
        await messages[-1].ack()
        # Only what this delivery applied: a redelivered duplicate would count its lag twice.
        now = time.time()
        for entry in applied:
            self._metrics.lag_seconds.observe(max(now - entry.recorded_at.timestamp(), 0.0))

    async def catch_up(self, up_to: int | None = None) -> int:
        """Apply what the ledger holds of this partition after the checkpoint (up to
        ``up_to``, or its head), moving the checkpoint past the other partitions' events;
        returns how many events it applied."""
        after = self._applied
        applied = 0
        while up_to is None or after < up_to:
            limit = GAP_PAGE_EVENTS if up_to is None else min(GAP_PAGE_EVENTS, up_to - after)
            page = await self._ledger.log_page(after, limit, partition=self.partition)
            reached = (
                page.next_after_position if up_to is None else min(page.next_after_position, up_to)
            )
            entries = [from_recorded(r) for r in page.events if r.position <= reached]
            if entries:
                await self._apply_in_order(entries, watermark=reached)
                applied += len(entries)
            elif reached > after:
                await self._advance(reached)
            if reached <= after or len(page.events) < limit:
                break
            after = reached
        return applied

    async def _advance(self, watermark: int) -> None:
        async with self._pool.acquire() as conn:
            await store.move_checkpoint(conn, self.partition, self._applied, watermark)
        self._applied = watermark
        self._metrics.checkpoint.set(watermark)

    async def apply(self, entries: list[LogEntry]) -> list[LogEntry]:
        """Apply entries after the checkpoint, filling from the ledger whatever of the
        partition is missing before them; returns the entries this call applied."""
        if not entries:
            return []
        fresh = _after(entries, self._applied)
        if not fresh:
            return []
        try:
            await self._apply_in_order(fresh)
        except StreamGap as gap:
            log.warning("projector_gap", partition=str(self.partition), detail=str(gap))
            # The ledger holds everything the messages carried, and what they missed.
            filled = await self.catch_up(up_to=fresh[-1].position)
            self._metrics.gap_filled.inc(max(filled - len(fresh), 0))
        return fresh

    async def _apply_in_order(self, entries: list[LogEntry], watermark: int = 0) -> None:
        projection = self.projection
        if projection is None:
            raise RuntimeError("the projector applies events only while it leads")
        started = time.perf_counter()
        outcome, queued = await apply_batch(
            self._pool,
            projection,
            self.partition,
            entries,
            applied=self._applied,
            watermark=watermark,
            publish_bank_updates=self._config.publish_bank_updates,
        )
        self._applied = max(watermark, outcome.last_position)
        self._metrics.applied.inc(len(entries))
        self._metrics.checkpoint.set(self._applied)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        if queued:
            self._on_commit.set()


def _after(entries: list[LogEntry], done: int) -> list[LogEntry]:
    """Entries past the checkpoint, in order, each position once (a redelivery can repeat one)."""
    fresh: list[LogEntry] = []
    for entry in sorted(entries, key=lambda e: e.position):
        if entry.position > done and (not fresh or entry.position > fresh[-1].position):
            fresh.append(entry)
    return fresh
