"""Publishes the projector's outbox to JetStream, in order, with deterministic message ids."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from proto.derived import CREDIT_STREAM
from services.ledger.relay import connect_nats
from services.projector.metrics import ProjectorMetrics
from services.projector.nats_setup import declare_credit_stream

log = structlog.get_logger(__name__)

BATCH_MAX = 500
ACK_TIMEOUT_S = 5.0
IDLE_RECHECK_S = 1.0
BACKOFF_MAX_S = 5.0


class OutboxPublisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        nats_url: str,
        replicas: int,
        wake: asyncio.Event,
        metrics: ProjectorMetrics,
    ) -> None:
        self._pool = pool
        self._nats_url = nats_url
        self._replicas = replicas
        self._wake = wake
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projector-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            nc: NatsClient | None = None
            try:
                nc = await connect_nats(self._nats_url, "credit-ledger-projector-outbox")
                js = nc.jetstream(timeout=ACK_TIMEOUT_S)
                await declare_credit_stream(js, self._replicas)
                while True:
                    self._wake.clear()
                    if not await self._publish_batch(js):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), IDLE_RECHECK_S)
                    backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_interrupted", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def _publish_batch(self, js: JetStreamContext) -> int:
        rows = await self._pool.fetch(
            "SELECT id, message_id, subject, payload FROM projector.outbox"
            " WHERE published_at IS NULL ORDER BY id LIMIT $1",
            BATCH_MAX,
        )
        if not rows:
            return 0
        futures = [
            await js.publish_async(
                row["subject"],
                bytes(row["payload"]),
                headers={"Nats-Msg-Id": row["message_id"], "content-type": "application/json"},
                stream=CREDIT_STREAM,
            )
            for row in rows
        ]
        await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT_S)
        await self._pool.execute(
            "UPDATE projector.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
        self._metrics.published.inc(len(rows))
        return len(rows)
