"""Publishes the issuer's outbox to JetStream with deterministic message ids.

Any number of replicas run one publisher each: a batch is claimed with ``FOR UPDATE SKIP
LOCKED`` for the length of its publish, so replicas publish different rows; the broker's
duplicate window drops the rare re-publish after a crash between publish and mark.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from proto.issuer import ISSUER_STREAM
from services.issuer.metrics import IssuerMetrics
from services.issuer.nats_setup import declare_issuer_stream
from services.ledger.relay import connect_nats

log = structlog.get_logger(__name__)

BATCH_MAX = 200
ACK_TIMEOUT_S = 5.0
IDLE_RECHECK_S = 0.5
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0


class OutboxPublisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        nats_url: str,
        replicas: int,
        metrics: IssuerMetrics,
        wake: asyncio.Event,
    ) -> None:
        self._pool = pool
        self._nats_url = nats_url
        self._replicas = replicas
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self.wake = wake

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="issuer-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            nc: NatsClient | None = None
            try:
                nc = await connect_nats(self._nats_url, "credit-ledger-issuer-outbox")
                js = nc.jetstream(timeout=ACK_TIMEOUT_S)
                await declare_issuer_stream(js, self._replicas)
                while True:
                    self.wake.clear()
                    if not await self._publish_batch(js):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), IDLE_RECHECK_S)
                    backoff = BACKOFF_MIN_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("issuer_outbox_interrupted", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def _publish_batch(self, js: JetStreamContext) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, message_id, subject, payload FROM issuer.outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH_MAX,
            )
            if not rows:
                return 0
            futures = [
                await js.publish_async(
                    row["subject"],
                    bytes(row["payload"]),
                    headers={"Nats-Msg-Id": row["message_id"], "content-type": "application/json"},
                    stream=ISSUER_STREAM,
                )
                for row in rows
            ]
            await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT_S)
            await conn.execute(
                "UPDATE issuer.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        self._metrics.published.inc(len(rows))
        return len(rows)
