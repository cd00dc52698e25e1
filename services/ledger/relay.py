"""The relay: publishes every committed event to JetStream, in position order (docs/architecture.md §3-4).

The log is its own outbox. One relay is active at a time (a session advisory lock held on
a dedicated connection); it wakes on LISTEN/NOTIFY (the append transaction notifies on
commit) rather than polling, resumes after a restart from the last message JetStream
holds, and catches up by itself after NATS was down.

Each message carries ``Nats-Msg-Id`` = event id (the broker drops re-publishes) and
``Nats-Expected-Last-Msg-Id`` = the previous event's id, so the broker itself refuses a
message that would land out of order after a lost publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
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

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = 0x4C45444745525259
# A safety net only: NOTIFY wakes the relay; this bounds the wait if a notification is lost.
IDLE_RECHECK_S = 2.0
ACK_TIMEOUT_S = 5.0
# How often, at most, the acknowledged position is written to ledger.relay_progress.
PROGRESS_SAVE_S = 1.0


@dataclass(frozen=True)
class RelayConfig:
    database_url: str
    nats_url: str
    ce_source: str
    batch_max: int
    stream_replicas: int
    in_flight_max: int = 1000


def message_headers(row: asyncpg.Record, ce_source: str, previous_id: str | None) -> dict[str, str]:
    headers = LedgerHeaders(
        event_id=row["event_id"],
        stream=row["stream"],
        ce_type=ce_type(row["type"]),
        position=row["position"],
        stream_version=row["stream_version"],
        recorded_at=row["recorded_at"],
        hash_hex=bytes(row["hash"]).hex(),
    )
    return encode_ledger_headers(headers, ce_source, previous_id)


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
                js = nc.jetstream(
                    timeout=ACK_TIMEOUT_S, publish_async_max_pending=self._config.in_flight_max
                )
                await declare_ledger_stream(js, self._config.stream_replicas)
                await self._publish_loop(conn, js)

    async def _resume_point(
        self, conn: asyncpg.Connection, js: JetStreamContext
    ) -> tuple[int, str | None]:
        """(position, event id) to continue after: the last event JetStream holds.

        An emptied stream (purged, truncated) that once held messages resumes after what
        the relay last saw acknowledged instead of re-sending the whole log; consumers
        fill whatever the stream lost from the ledger's read API.
        """
        info = await js.stream_info(LEDGER_STREAM)
        if info.state.messages > 0:
            message = await js.get_msg(LEDGER_STREAM, seq=info.state.last_seq)
            last = decode_ledger_headers(message.headers)
            return last.position, last.event_id
        if info.state.last_seq == 0:
            return 0, None
        position: int = await conn.fetchval("SELECT position FROM ledger.relay_progress")
        return position, None

    async def _publish_loop(self, conn: asyncpg.Connection, js: JetStreamContext) -> None:
        """Publishes ahead of the acknowledgements, at most ``in_flight_max`` unacknowledged,
        in position order on one connection; confirms in the same order. A refused or
        missing acknowledgement raises, and the relay starts again from what JetStream
        holds."""
        wake = asyncio.Event()
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        position, previous_id = await self._resume_point(conn, js)
        self.published_position = position
        log.info("relay_resumed", after_position=position)
        flight = _Flight(position)
        saved, saved_at = position, time.monotonic()
        try:
            while True:
                wake.clear()
                room = self._config.in_flight_max - len(flight.pending)
                rows = await self._next_rows(conn, flight.read_position, room)
                for row in rows:
                    headers = message_headers(row, self._config.ce_source, previous_id)
                    subject = subject_for(row["stream"], row["type"])
                    ack = await js.publish_async(subject, row["data"].encode(), headers=headers)
                    flight.pending.append((row["position"], row["recorded_at"], ack))
                    previous_id = row["event_id"]
                if rows:
                    flight.read_position = rows[-1]["position"]
                elif flight.pending:
                    await flight.front_acknowledged()
                else:
                    if saved != self.published_position:
                        saved, saved_at = await self._save_progress(conn), time.monotonic()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), IDLE_RECHECK_S)
                    continue
                if len(flight.pending) >= self._config.in_flight_max:
                    await flight.front_acknowledged()
                self._confirm(flight)
                if time.monotonic() - saved_at >= PROGRESS_SAVE_S:
                    saved, saved_at = await self._save_progress(conn), time.monotonic()
        finally:
            flight.abandon()

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
            min(self._config.batch_max, room),
        )
        if rows and rows[0]["position"] != after + 1:
            raise RuntimeError(
                f"log gap: expected position {after + 1}, read {rows[0]['position']}"
            )
        return rows

    def _confirm(self, flight: _Flight) -> None:
        """Every acknowledged publish at the front, in order (raising a refused one's error)."""
        acked_at = time.time()
        confirmed = 0
        while flight.pending and flight.pending[0][2].done():
            position, recorded_at, ack = flight.pending.popleft()
            ack.result()
            self._metrics.relay_lag_seconds.observe(max(acked_at - recorded_at.timestamp(), 0.0))
            self.published_position = position
            confirmed += 1
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


class _Flight:
    """Publishes sent and not yet confirmed, in position order."""

    def __init__(self, read_position: int) -> None:
        self.pending: deque[tuple[int, dt.datetime, asyncio.Future[Any]]] = deque()
        self.read_position = read_position  # the last position read and published

    async def front_acknowledged(self) -> None:
        """Until the oldest publish is acknowledged (TimeoutError after ``ACK_TIMEOUT_S``)."""
        async with asyncio.timeout(ACK_TIMEOUT_S):
            await asyncio.wait([self.pending[0][2]])

    def abandon(self) -> None:
        """Leaving (an error, a stop): no acknowledgement is waited for or left unretrieved."""
        for _, _, ack in self.pending:
            if ack.done():
                if not ack.cancelled():
                    ack.exception()
            else:
                ack.cancel()
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
