"""NATS for every service: the connection, the streams (every setting spelled out), and the
headers of a LEDGER message, written by the ledger's relay and read by its consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from proto.canonical import format_recorded_at
from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS

# Re-publishes after a relay restart are dropped by their message id within this window.
DUPLICATE_WINDOW_S = 120.0
MAX_MSG_BYTES = 1024 * 1024

MSG_ID_HEADER = "Nats-Msg-Id"
POSITION_HEADER = "Ledger-Position"


async def connect_nats(url: str, name: str) -> NatsClient:
    """A NATS connection that keeps reconnecting for ever (every option explicit)."""
    return await nats.connect(
        servers=url.split(","),
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        ping_interval=10,
        max_outstanding_pings=3,
        pending_size=64 * 1024 * 1024,
    )


@contextlib.asynccontextmanager
async def nats_connection(url: str, name: str) -> AsyncIterator[NatsClient]:
    """``connect_nats`` for the length of a block; closed however the block ends."""
    nc = await connect_nats(url, name)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


# After the first message, how long a pull may wait for more that are already on their way.
DRAIN_WAIT_S = 0.005


async def fetch_ready(
    subscription: JetStreamContext.PullSubscription, messages_max: int, wait_s: float
) -> list[Msg]:
    """The next messages of a pull consumer: one as soon as it arrives (TimeoutError after
    ``wait_s``), then whatever else is already waiting, up to ``messages_max`` in all (the
    issuer's consumers and the projector's). Not one pull of ``messages_max``: nats.py
    answers that at once only while messages are waiting; otherwise its lingering request
    returns when the batch is full or ``wait_s`` has passed, however early the first
    message came."""
    batch = await subscription.fetch(1, timeout=wait_s)
    if messages_max > 1:
        with contextlib.suppress(TimeoutError):  # nats.errors.TimeoutError is one too
            batch += await subscription.fetch(messages_max - 1, timeout=DRAIN_WAIT_S)
    return batch


@dataclass(frozen=True, slots=True)
class LedgerHeaders:
    """What a LEDGER message says of its event besides the body (the event's data)."""

    event_id: str
    stream: str
    ce_type: str
    position: int
    stream_version: int
    recorded_at: dt.datetime
    hash_hex: str


def encode_ledger_headers(headers: LedgerHeaders, ce_source: str) -> dict[str, str]:
    """CloudEvents headers, the ledger's own, and the broker's de-duplication id (the relay
    adds its order guard and those of its atomic batches, ``services.ledger.sequenced_publish``)."""
    return {
        "ce-specversion": "1.0",
        "ce-id": headers.event_id,
        "ce-source": ce_source,
        "ce-type": headers.ce_type,
        "ce-subject": headers.stream,
        "ce-time": format_recorded_at(headers.recorded_at),
        "content-type": "application/json",
        MSG_ID_HEADER: headers.event_id,
        POSITION_HEADER: str(headers.position),
        "Ledger-Stream-Version": str(headers.stream_version),
        "Ledger-Hash": headers.hash_hex,
    }


def decode_ledger_headers(headers: Mapping[str, str] | None) -> LedgerHeaders:
    """The headers of a LEDGER message; KeyError or ValueError if it is not one."""
    headers = headers or {}
    return LedgerHeaders(
        event_id=headers["ce-id"],
        stream=headers["ce-subject"],
        ce_type=headers["ce-type"],
        position=int(headers[POSITION_HEADER]),
        stream_version=int(headers["Ledger-Stream-Version"]),
        recorded_at=dt.datetime.fromisoformat(headers["ce-time"].replace("Z", "+00:00")),
        hash_hex=headers["Ledger-Hash"],
    )


def stream_config(name: str, subjects: list[str], description: str, replicas: int) -> StreamConfig:
    """Every stream of the system: file storage, kept for ever, de-duplicated by message id."""
    return StreamConfig(
        name=name,
        description=description,
        subjects=subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msg_size=MAX_MSG_BYTES,
        max_msgs_per_subject=-1,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
        deny_delete=True,
        deny_purge=False,
    )


def ledger_stream_config(replicas: int) -> StreamConfig:
    config = stream_config(
        LEDGER_STREAM,
        [LEDGER_SUBJECTS],
        "Every event of the credit ledger, in log position order.",
        replicas,
    )
    # The relay publishes in atomic batches (services.ledger.sequenced_publish).
    return dataclasses.replace(config, allow_atomic=True)


async def declare_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    if config.name is None:
        raise ValueError("a stream needs a name")
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def declare_ledger_stream(js: JetStreamContext, replicas: int) -> None:
    await declare_stream(js, ledger_stream_config(replicas))


async def await_acks(acks: Sequence[Awaitable[Any]], timeout_s: float) -> None:
    """Wait for JetStream's publish acknowledgements, at most ``timeout_s`` (TimeoutError).

    Not ``wait_for(gather(...))``: cancelled (a service stopping), Python 3.11's wait_for
    leaves the gathered future's CancelledError unretrieved, and asyncio logs it as an
    error; awaiting the gather under ``asyncio.timeout`` retrieves it."""
    async with asyncio.timeout(timeout_s):
        await asyncio.gather(*acks)
