"""Publishes a service's outbox table to JetStream, in order, with deterministic message ids
and CloudEvents headers that depend only on the row (proto/cloudevents.py).

Rows are committed with the change that caused them; this publisher sends them after.
Any number of replicas may run: a batch is claimed with ``FOR UPDATE SKIP LOCKED`` for the
length of its publish, so replicas publish different rows, and the broker's duplicate
window drops the rare re-publish after a crash between publish and mark.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from nats.js import JetStreamContext
from prometheus_client import Counter

from proto.cloudevents import derived_headers
from services.common.lifecycle import BackgroundLoop, RunsInBackground
from services.common.messaging import MSG_ID_HEADER, await_acks, nats_connection

BATCH_MAX = 200
ACK_TIMEOUT_S = 5.0
IDLE_RECHECK_S = 0.5


@dataclass(frozen=True)
class OutboxConfig:
    table: str  # schema-qualified, with id, message_id, subject, payload, published_at
    stream: str
    declare: Callable[[JetStreamContext], Awaitable[None]]
    nats_url: str
    name: str  # for the connection name and log lines
    source: str  # the CloudEvents source of every message (proto/cloudevents.py)


class OutboxPublisher(RunsInBackground):
    def __init__(
        self, pool: asyncpg.Pool, config: OutboxConfig, wake: asyncio.Event, published: Counter
    ) -> None:
        self._pool = pool
        self._config = config
        self._wake = wake
        self._published = published
        self._loop = BackgroundLoop(config.name, self._publish_for_ever)

    async def _publish_for_ever(self) -> None:
        name = f"credit-ledger-{self._config.name}"
        async with nats_connection(self._config.nats_url, name) as nc:
            js = nc.jetstream(timeout=ACK_TIMEOUT_S)
            await self._config.declare(js)
            while True:
                self._wake.clear()
                if not await self._publish_batch(js):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), IDLE_RECHECK_S)

    async def _publish_batch(self, js: JetStreamContext) -> int:
        table = self._config.table
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, message_id, subject, payload, created_at FROM {table}"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH_MAX,
            )
            if not rows:
                return 0
            futures = [
                await js.publish_async(
                    row["subject"],
                    bytes(row["payload"]),
                    headers={
                        MSG_ID_HEADER: row["message_id"],
                        **derived_headers(
                            row["subject"],
                            row["message_id"],
                            row["created_at"],
                            self._config.source,
                        ),
                    },
                    stream=self._config.stream,
                )
                for row in rows
            ]
            await await_acks(futures, ACK_TIMEOUT_S)
            await conn.execute(
                f"UPDATE {table} SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        self._published.inc(len(rows))
        return len(rows)
