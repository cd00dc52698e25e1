"""Readers that tail the ledger the way other services do: over HTTP and over JetStream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from proto.subjects import LEDGER_STREAM
from tests.support.ledger import Ledger


async def tail_http(ledger: Ledger, stop: asyncio.Event, page: int = 200) -> list[int]:
    """Poll /v1/log trusting "next position = last + 1", as a tailing reader does."""
    seen: list[int] = []
    after = 0
    while True:
        body = (await ledger.get("/v1/log", after_position=after, limit=page)).json()
        positions = [e["position"] for e in body["events"]]
        seen.extend(positions)
        if positions:
            after = positions[-1]
        elif stop.is_set():
            return seen
        else:
            await asyncio.sleep(0.005)


async def read_jetstream(url: str, count: int, timeout_s: float = 30.0) -> list[Msg]:
    """The first ``count`` messages of the LEDGER stream, via an explicit pull consumer."""
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=5)
    try:
        deadline = time.monotonic() + timeout_s
        subscription = await _from_the_start(nc, LEDGER_STREAM, "ledger.v1.>", deadline)
        messages: list[Msg] = []
        while len(messages) < count and time.monotonic() < deadline:
            try:
                batch = await subscription.fetch(min(500, count - len(messages)), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in batch:
                await message.ack()
            messages.extend(batch)
        return messages
    finally:
        await nc.close()


def positions_of(messages: list[Msg]) -> list[int]:
    return [int((m.headers or {})["Ledger-Position"]) for m in messages]


def header_map(message: Msg) -> dict[str, Any]:
    return dict(message.headers or {})


async def read_stream_messages(
    url: str, stream: str, subject: str, count: int, timeout_s: float = 15.0
) -> list[Msg]:
    """Up to ``count`` messages of ``stream`` on ``subject``; waits for the stream to exist,
    then for ``count`` messages (returns what arrived, so a test can also check "no more")."""
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=5)
    try:
        deadline = time.monotonic() + timeout_s
        subscription = await _from_the_start(nc, stream, subject, deadline)
        messages: list[Msg] = []
        while len(messages) < count + 1 and time.monotonic() < deadline:
            try:
                batch = await subscription.fetch(count + 1 - len(messages), timeout=1)
            except nats.errors.TimeoutError:
                if len(messages) >= count:
                    break
                continue
            for message in batch:
                await message.ack()
            messages.extend(batch)
        return messages
    finally:
        await nc.close()


async def _from_the_start(
    nc: NatsClient, stream: str, subject: str, deadline: float
) -> JetStreamContext.PullSubscription:
    """An ephemeral pull consumer over the whole stream, once the stream exists."""
    js = nc.jetstream(timeout=10)
    while True:
        try:
            await js.stream_info(stream)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    return await js.pull_subscribe(
        subject,
        durable=None,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_deliver=5,
            max_ack_pending=10_000,
            inactive_threshold=60,
        ),
    )
