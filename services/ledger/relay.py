"""The relay: publishes every committed event to JetStream, in position order (docs/architecture.md §3-4).

The log is its own outbox. One relay is active at a time (a session advisory lock held on
a dedicated connection); it wakes on LISTEN/NOTIFY (the append transaction notifies on
commit) rather than polling, resumes after a restart from the last message JetStream
holds, and catches up by itself after NATS was down.

A round's rows go one by one, or from 16 of them as one JetStream atomic batch, synced
once by the broker instead of once an event (``services.ledger.sequenced_publish``). Each
message carries ``Nats-Msg-Id`` = event id, and each send ``Nats-Expected-Last-Sequence``
= the stream sequence it must follow, so the broker itself refuses a message or batch that
would land out of order after a lost publish, or beside another publisher's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from proto.subjects import LEDGER_STREAM, ce_type, subject_for
from services.common.db import connect, leadership
from services.common.lifecycle import BackgroundLoop, RunsInBackground, running, until_signalled
from services.common.messaging import (
    LedgerHeaders,
    declare_ledger_stream,
    decode_ledger_headers,
    encode_ledger_headers,
    nats_connection,
)
from services.common.settings import Settings
from services.common.shared_metrics import process_stopped
from services.ledger.append import NOTIFY_CHANNEL
from services.ledger.metrics import LedgerMetrics
from services.ledger.sequenced_publish import (
    BATCH_MESSAGES_MAX,
    Outgoing,
    Sent,
    SequencedPublisher,
    confirm,
)

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = 0x4C45444745525259
# A safety net only: NOTIFY wakes the relay; this bounds the wait if a notification is lost.
IDLE_RECHECK_S = 2.0
ACK_TIMEOUT_S = 5.0
# JetStream commits a stream's atomic batches one at a time, so more in flight would only
# queue in the broker (which also caps a stream's open batches, at 50 by default).
BATCHES_IN_FLIGHT_MAX = 4
# How often, at most, the acknowledged position is written to ledger.relay_progress.
PROGRESS_SAVE_S = 1.0


@dataclass(frozen=True)
class RelayConfig:
    database_url: str
    nats_url: str
    ce_source: str
    batch_max: int
    stream_replicas: int
    in_flight_max: int = 1000  # events sent and not yet acknowledged


def outgoing(row: asyncpg.Record, ce_source: str) -> Outgoing:
    """The JetStream message of one log row."""
    headers = LedgerHeaders(
        event_id=row["event_id"],
        stream=row["stream"],
        ce_type=ce_type(row["type"]),
        position=row["position"],
        stream_version=row["stream_version"],
        recorded_at=row["recorded_at"],
        hash_hex=bytes(row["hash"]).hex(),
    )
    return Outgoing(
        subject_for(row["stream"], row["type"]),
        row["data"].encode(),
        encode_ledger_headers(headers, ce_source),
    )


class Relay(RunsInBackground):
    def __init__(
        self,
        config: RelayConfig,
        metrics: LedgerMetrics,
        connect_pg: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._connect_pg = connect_pg
        self._loop = BackgroundLoop(
            "relay", self._lead_when_possible, after_each=self._relay_stopped
        )
        self.is_leader = False
        self.published_position = 0

    def _relay_stopped(self) -> None:
        self.is_leader = False

    async def _lead_when_possible(self) -> None:
        async with leadership(self._connect_pg, RELAY_LOCK_KEY) as conn:
            self.is_leader = True
            log.info("relay_leader")
            async with nats_connection(self._config.nats_url, "credit-ledger-relay") as nc:
                js = nc.jetstream(timeout=ACK_TIMEOUT_S)
                await declare_ledger_stream(js, self._config.stream_replicas)
                await self._publish_loop(conn, js, nc)

    async def _resume_point(self, conn: asyncpg.Connection, js: JetStreamContext) -> _Resume:
        """Where to continue: after the last event JetStream holds.

        An emptied stream (purged, truncated) that once held messages resumes after what
        the relay last saw acknowledged instead of re-sending the whole log; consumers
        fill whatever the stream lost from the ledger's read API.
        """
        info = await js.stream_info(LEDGER_STREAM)
        if info.state.messages > 0:
            message = await js.get_msg(LEDGER_STREAM, seq=info.state.last_seq)
            last = decode_ledger_headers(message.headers)
            return _Resume(last.position, info.state.last_seq, emptied=False)
        if info.state.last_seq == 0:  # a new stream (or one lost with its server): all of it
            return _Resume(0, 0, emptied=False)
        saved: int = await conn.fetchval("SELECT position FROM ledger.relay_progress")
        return _Resume(saved, info.state.last_seq, emptied=True)

    async def _past_duplicates(
        self, conn: asyncpg.Connection, js: JetStreamContext, resume: _Resume
    ) -> _Resume:
        """After a restart on an emptied stream: ``relay_progress`` may be up to
        ``PROGRESS_SAVE_S`` old, and the events since then may still be in the stream's
        de-duplication window, where JetStream refuses a whole batch that holds one of them.
        Publishes one event at a time, which the broker acknowledges as a duplicate where
        it has one, until it stores one."""
        position, sequence = resume.position, resume.sequence
        while rows := await self._next_rows(conn, position, self._config.batch_max):
            for row in rows:
                message = outgoing(row, self._config.ce_source)
                ack = await js.publish(message.subject, message.payload, headers=message.headers)
                position = row["position"]
                if not ack.duplicate:
                    return _Resume(position, ack.seq, emptied=False)
        return _Resume(position, sequence, emptied=False)

    async def _publish_loop(
        self, conn: asyncpg.Connection, js: JetStreamContext, nc: NatsClient
    ) -> None:
        """Publishes what the log holds past the stream, each round's rows one by one or as
        an atomic batch (``services.ledger.sequenced_publish``), ahead of the
        acknowledgements: at most ``in_flight_max`` events and ``BATCHES_IN_FLIGHT_MAX``
        batches unacknowledged, in position order on one connection, confirmed in the same
        order, each send landing right after the stream sequence the one before ended at. A
        refused or missing acknowledgement raises, and the relay starts again from what
        JetStream holds."""
        wake = asyncio.Event()
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        resume = await self._resume_point(conn, js)
        if resume.emptied:
            resume = await self._past_duplicates(conn, js, resume)
        self.published_position = resume.position
        log.info("relay_resumed", after_position=resume.position)
        flight = _Flight(resume.position)
        async with SequencedPublisher(nc, resume.sequence) as publisher:
            try:
                await self._relay_rounds(conn, wake, publisher, flight)
            finally:
                flight.abandon()

    async def _relay_rounds(
        self,
        conn: asyncpg.Connection,
        wake: asyncio.Event,
        publisher: SequencedPublisher,
        flight: _Flight,
    ) -> None:
        saved, saved_at = flight.read_position, time.monotonic()
        while True:
            wake.clear()
            rows = await self._next_rows(conn, flight.read_position, flight.room(self._config))
            if rows:
                await flight.send(
                    publisher, [outgoing(r, self._config.ce_source) for r in rows], rows
                )
            elif flight.pending:
                await flight.front_acknowledged()
            else:
                if saved != self.published_position:
                    saved, saved_at = await self._save_progress(conn), time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), IDLE_RECHECK_S)
                continue
            if flight.room(self._config) <= 0:
                await flight.front_acknowledged()
            self._confirm(flight)
            if time.monotonic() - saved_at >= PROGRESS_SAVE_S:
                saved, saved_at = await self._save_progress(conn), time.monotonic()

    async def _next_rows(
        self, conn: asyncpg.Connection, after: int, room: int
    ) -> list[asyncpg.Record]:
        if room <= 0:
            return []
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT position, event_id::text AS event_id, stream, stream_version, type,"
            " data::text AS data, recorded_at, hash FROM ledger.events"
            " WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            min(self._config.batch_max, room, BATCH_MESSAGES_MAX),
        )
        if rows and rows[0]["position"] != after + 1:
            raise RuntimeError(
                f"log gap: expected position {after + 1}, read {rows[0]['position']}"
            )
        return rows

    def _confirm(self, flight: _Flight) -> None:
        """Every acknowledged send at the front, in order (raising a refused one's error)."""
        acked_at = time.time()
        confirmed = 0
        while flight.pending and flight.pending[0].sent.reply.done():
            rows = flight.pending.popleft()
            confirm(rows.sent)
            for recorded_at in rows.recorded_at:
                self._metrics.relay_lag_seconds.observe(max(acked_at - recorded_at, 0.0))
            self.published_position = rows.last_position
            confirmed += rows.sent.count
            flight.batches -= rows.sent.batched
        flight.unacknowledged -= confirmed
        if confirmed:
            self._metrics.relay_published.inc(confirmed)
            self._metrics.relay_position.set(self.published_position)

    async def _save_progress(self, conn: asyncpg.Connection) -> int:
        """What JetStream acknowledged, kept for a stream that is later emptied (at most
        every ``PROGRESS_SAVE_S`` under load: an older value only re-sends a few events,
        which consumers take as duplicates)."""
        position = self.published_position
        await conn.execute("UPDATE ledger.relay_progress SET position = $1", position)
        return position


@dataclass(frozen=True)
class _Resume:
    position: int  # the last event the stream holds (or held)
    sequence: int  # the stream's last sequence
    emptied: bool  # the stream once held messages and holds none now


@dataclass(frozen=True)
class _SentRows:
    sent: Sent
    last_position: int
    recorded_at: list[float]  # each event's, as Unix time: the lag is measured per event


class _Flight:
    """Sends not yet confirmed, in position order."""

    def __init__(self, read_position: int) -> None:
        self.pending: deque[_SentRows] = deque()
        self.read_position = read_position  # the last position read and published
        self.unacknowledged = 0  # events
        self.batches = 0  # atomic batches

    def room(self, config: RelayConfig) -> int:
        """How many more events may be sent now."""
        if self.batches >= BATCHES_IN_FLIGHT_MAX:
            return 0
        return config.in_flight_max - self.unacknowledged

    async def send(
        self, publisher: SequencedPublisher, messages: list[Outgoing], rows: list[asyncpg.Record]
    ) -> None:
        first = 0
        for sent in await publisher.send(messages):
            sent_rows = rows[first : first + sent.count]
            first += sent.count
            recorded_at = [row["recorded_at"].timestamp() for row in sent_rows]
            self.pending.append(_SentRows(sent, sent_rows[-1]["position"], recorded_at))
            self.batches += sent.batched
        self.read_position = rows[-1]["position"]
        self.unacknowledged += len(messages)

    async def front_acknowledged(self) -> None:
        """Until the oldest send is acknowledged (TimeoutError after ``ACK_TIMEOUT_S``)."""
        async with asyncio.timeout(ACK_TIMEOUT_S):
            await asyncio.wait([self.pending[0].sent.reply])

    def abandon(self) -> None:
        """Leaving (an error, a stop): no acknowledgement is waited for or left unretrieved."""
        for rows in self.pending:
            reply = rows.sent.reply
            if reply.done():
                if not reply.cancelled():
                    reply.exception()
            else:
                reply.cancel()
        self.pending.clear()


def relay_from_settings(
    settings: Settings, database_url: str, nats_url: str, metrics: LedgerMetrics
) -> Relay:
    return Relay(
        RelayConfig(
            database_url=database_url,
            nats_url=nats_url,
            ce_source=settings.ledger.ce_source,
            batch_max=settings.ledger.relay_batch_max,
            stream_replicas=settings.infra.nats_stream_replicas,
            in_flight_max=settings.ledger.relay_in_flight_max,
        ),
        metrics,
        lambda: connect(database_url),
    )


async def run_relay_process(settings: Settings) -> int:
    """``credit-ledger relay``: the relay in a process of its own, until SIGTERM or SIGINT.

    One relay leads at a time (the advisory lock), so this may run beside ledgers that
    relay too, or as a standby of another relay process. Its metrics reach the ledger's
    ``/metrics`` when the processes share ``PROMETHEUS_MULTIPROC_DIR``."""
    database_url, nats_url = settings.infra.database_url, settings.infra.nats_url
    if database_url is None or nats_url is None:
        raise ValueError("the relay needs DATABASE_URL and NATS_URL")
    relay = relay_from_settings(settings, database_url, nats_url, LedgerMetrics())
    try:
        async with running(relay):
            await until_signalled()
    finally:
        process_stopped()
    return 0
