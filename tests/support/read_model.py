"""What a test needs to judge the projector from outside: its stored read model, its
outbox, and the threshold events it published on the CREDIT stream."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from proto.derived import CREDIT_STREAM

ELIGIBLE_SUBJECTS = "credit.v1.eligible.>"


@dataclass(frozen=True)
class ReadModel:
    """The projector's stored tables, as plain values (comparable with ``==``)."""

    checkpoint: int
    event_positions: list[int]
    credit_banks: dict[str, tuple[int, Any]]
    progress: dict[tuple[str, str], tuple[int, bool, int, Any]]
    thresholds: dict[tuple[str, str, int, int], tuple[int, str]]


async def read_model(database_url: str) -> ReadModel:
    conn = await asyncpg.connect(database_url)
    try:
        checkpoint: int = await conn.fetchval(
            "SELECT coalesce(min(position), 0) FROM projector.checkpoints"
        )
        positions = [
            r["position"]
            for r in await conn.fetch("SELECT position FROM projector.events ORDER BY position")
        ]
        banks = {
            r["learner_id"]: (r["position"], json.loads(r["summary"]))
            for r in await conn.fetch(
                "SELECT learner_id, position, summary::text AS summary FROM projector.credit_banks"
            )
        }
        progress = {
            (r["learner_id"], r["qualification_code"]): (
                r["rule_version"],
                r["satisfied"],
                r["position"],
                json.loads(r["decision"]),
            )
            for r in await conn.fetch(
                "SELECT learner_id, qualification_code, rule_version, satisfied, position,"
                " decision::text AS decision FROM projector.progress"
            )
        }
        thresholds = {
            (r["learner_id"], r["qualification_code"], r["rule_version"], r["award_generation"]): (
                r["position"],
                r["message_id"],
            )
            for r in await conn.fetch("SELECT * FROM projector.thresholds")
        }
    finally:
        await conn.close()
    return ReadModel(checkpoint, positions, banks, progress, thresholds)


async def outbox_drained(database_url: str, timeout_s: float = 30.0) -> None:
    """Wait until the projector's outbox publisher has had every row acknowledged."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while pending := await conn.fetchval(
            "SELECT count(*) FROM projector.outbox WHERE published_at IS NULL"
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pending} outbox message(s) still unpublished")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Published:
    message_id: str
    body: dict[str, Any]

    @property
    def threshold_key(self) -> tuple[str, str, int, int]:
        b = self.body
        return (
            b["learner_id"],
            b["qualification_code"],
            b["qualification_version"],
            b["award_generation"],
        )


async def published_eligible(nats_url: str, timeout_s: float = 15.0) -> list[Published]:
    """Every message on the CREDIT stream's eligibility subjects, in stream order.

    Reads exactly what the stream holds when the reader is created (its pending count),
    so it returns at once instead of waiting for a timeout; call it after
    ``outbox_drained``."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=5)
    try:
        js = nc.jetstream(timeout=10)
        subscription = await js.pull_subscribe(
            ELIGIBLE_SUBJECTS,
            durable=None,
            stream=CREDIT_STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
                max_deliver=1,
                max_ack_pending=100_000,
                inactive_threshold=30,
            ),
        )
        expected = (await subscription.consumer_info()).num_pending or 0
        deadline = time.monotonic() + timeout_s
        published: list[Published] = []
        while len(published) < expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(published)} of {expected} eligible messages")
            try:
                batch = await subscription.fetch(min(500, expected - len(published)), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in batch:
                await message.ack()
                headers = message.headers or {}
                published.append(Published(headers["Nats-Msg-Id"], json.loads(message.data)))
        return published
    finally:
        await nc.close()


def duplicates(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    twice = []
    for item in items:
        if item in seen:
            twice.append(item)
        seen.add(item)
    return twice


class WireTap:
    """A plain (core NATS) subscriber: it sees every publish on a subject, including the
    re-publishes JetStream's duplicate window hides from the stream's consumers."""

    def __init__(self) -> None:
        self.seen: list[Published] = []
        self._nc: NatsClient | None = None
        self._subscription: Subscription | None = None

    async def start(self, nats_url: str, subject: str = ELIGIBLE_SUBJECTS) -> None:
        self._nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=5)
        self._subscription = await self._nc.subscribe(subject, pending_msgs_limit=1_000_000)
        await self._nc.flush()

    async def settle(self) -> list[Published]:
        """Everything published before this call: a round trip to the server, then what
        the subscription buffered."""
        if self._nc is None or self._subscription is None:
            raise RuntimeError("the tap is not started")
        await self._nc.flush()
        for _ in range(self._subscription.pending_msgs):
            message = await self._subscription.next_msg(timeout=1)
            headers = message.headers or {}
            self.seen.append(Published(headers["Nats-Msg-Id"], json.loads(message.data)))
        return list(self.seen)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None
