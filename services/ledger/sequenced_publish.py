"""Publishing to JetStream in order, each send guarded by the stream sequence it must
follow: messages one by one, or JetStream's atomic batches (nats-server 2.12+, ADR-50).

Why both (measured on the reference machine with ``sync_interval: always`` by probes of
a nats-server of its own; the figures are in the commits that brought this module in):
- A message published on its own costs nats-server a sync of the stream's file: about
  85-110 µs of its CPU and ~230 µs of disk time a message, so a burst tops out near
  4,300 messages/s.
- An atomic batch is stored and synced as one, but on a one-replica file stream the
  broker first stages it in a file store of its own: about 1.3 ms of CPU and 2.6 ms in
  all a batch, plus ~13 µs a message. Batches of 128 cost 15 µs of broker CPU a message
  and ran at up to ~60,000 messages/s in batches of 1,000.
So a send of fewer than ``ATOMIC_BATCH_MIN`` messages goes one by one, and a larger one
as a batch.

The headers: every message of a batch names it (``Nats-Batch-Id``) and its place in it
(``Nats-Batch-Sequence``, from 1); the last says ``Nats-Batch-Commit: 1`` and alone is
sent with a reply subject; the stream stores all of them or none. A message on its own,
and a batch's first message, carry ``Nats-Expected-Last-Sequence``: the stream refuses
them unless its last message is the one the publisher expects (the order guard;
``Nats-Expected-Last-Msg-Id`` is not allowed in a batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
from nats import errors as nats_errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

# nats-server's own ceiling on the messages of one batch (its default max_batch_size).
BATCH_MESSAGES_MAX = 1000
# From this many messages a send is one atomic batch: the broker's CPU for a batch of 16
# (83 µs a message) is below that of 16 messages on their own (100 µs), and its time too.
ATOMIC_BATCH_MIN = 16

_NATS_HEADER_LINE = b"NATS/1.0\r\n"
BATCH_ID_HEADER = "Nats-Batch-Id"
BATCH_SEQUENCE_HEADER = "Nats-Batch-Sequence"
BATCH_COMMIT_HEADER = "Nats-Batch-Commit"
EXPECTED_LAST_SEQUENCE_HEADER = "Nats-Expected-Last-Sequence"
_COMMIT_LINE = f"{BATCH_COMMIT_HEADER}: 1\r\n".encode()


@dataclass(frozen=True, slots=True)
class Outgoing:
    subject: str
    payload: bytes
    headers: dict[str, str]  # the message's own; a send adds its guard and batch headers

    @property
    def header_lines(self) -> bytes:
        return encode_header_lines(self.headers)


def encode_header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value\r\n`` for each header, in one pass (``ValueError`` if a name or a
    value would break a line or the block)."""
    text = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise ValueError(f"a header holds a line break: {headers!r}")
    return text.encode()


@dataclass(frozen=True, slots=True)
class Sent:
    """The acknowledgement to come for the last message of one send."""

    last_sequence: int  # the stream sequence its last message must land at
    count: int  # messages in the send
    batched: bool
    reply: asyncio.Future[Msg]


class PublishRefused(RuntimeError):
    """JetStream stored none of a send (its error code and description), or acknowledged
    something other than what was sent."""

    def __init__(self, description: str, code: int | None = None) -> None:
        super().__init__(description if code is None else f"{description} (err_code {code})")
        self.code = code


class _AckError(msgspec.Struct):
    description: str = ""
    err_code: int | None = None


class _PubAck(msgspec.Struct):
    seq: int = 0
    count: int = 0  # a batch's messages (absent on a message's own acknowledgement)
    duplicate: bool = False
    error: _AckError | None = None


_decode_ack = msgspec.json.Decoder(_PubAck).decode


class SequencedPublisher:
    """Sends on one connection, in order, each acknowledged on a reply subject of its own
    under one inbox subscription (nats.py's ``request`` sends from a task of its own, which
    could put a message behind the next send's)."""

    def __init__(self, nc: NatsClient, after_sequence: int) -> None:
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._replies = 0
        self._subscription: Subscription | None = None
        self.sequence = after_sequence  # where the last message sent must land

    async def __aenter__(self) -> SequencedPublisher:
        self._subscription = await self._nc.subscribe(f"{self._inbox}.*", cb=self._replied)
        return self

    async def __aexit__(self, *_: object) -> None:
        for reply in self._waiting.values():
            reply.cancel()
        self._waiting.clear()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def send(self, messages: Sequence[Outgoing]) -> list[Sent]:
        """Sends ``messages`` after everything sent before: one atomic batch from
        ``ATOMIC_BATCH_MIN`` messages, one by one below. Every message is in the
        connection's buffer when this returns."""
        if not 0 < len(messages) <= BATCH_MESSAGES_MAX:
            raise ValueError(
                f"a send holds 1 to {BATCH_MESSAGES_MAX} messages, not {len(messages)}"
            )
        if len(messages) >= ATOMIC_BATCH_MIN:
            return [await self._batch(messages)]
        return [await self._single(message) for message in messages]

    async def _single(self, message: Outgoing) -> Sent:
        guard = f"{EXPECTED_LAST_SEQUENCE_HEADER}: {self.sequence}\r\n".encode()
        reply = await self._request(message, guard)
        self.sequence += 1
        return Sent(self.sequence, 1, False, reply)

    async def _batch(self, messages: Sequence[Outgoing]) -> Sent:
        batch_id = uuid.uuid4().hex
        *body, commit = messages
        for number, message in enumerate(body, start=1):
            await self._write(message, "", self._batch_lines(batch_id, number))
        commit_lines = self._batch_lines(batch_id, len(messages)) + _COMMIT_LINE
        reply = await self._request(commit, commit_lines)
        self.sequence += len(messages)
        return Sent(self.sequence, len(messages), True, reply)

    def _batch_lines(self, batch_id: str, number: int) -> bytes:
        lines = f"{BATCH_ID_HEADER}: {batch_id}\r\n{BATCH_SEQUENCE_HEADER}: {number}\r\n"
        if number == 1:
            lines += f"{EXPECTED_LAST_SEQUENCE_HEADER}: {self.sequence}\r\n"
        return lines.encode()

    async def _request(self, message: Outgoing, extra_lines: bytes) -> asyncio.Future[Msg]:
        self._replies += 1
        reply_subject = f"{self._inbox}.{self._replies}"
        reply: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[reply_subject] = reply
        await self._write(message, reply_subject, extra_lines)
        return reply

    async def _write(self, message: Outgoing, reply: str, extra_lines: bytes) -> None:
        """One HPUB, its header block encoded here rather than by ``Client.publish``:
        nats.py checks and encodes header by header (``str.translate`` on every value),
        which py-spy found to be 29 % of the relay's CPU in the batch phase of
        ``bench.ledger_bench``. The block is checked once (``encode_header_lines``)."""
        nc = self._nc
        if nc.is_closed:
            raise nats_errors.ConnectionClosedError
        if nc.is_draining_pubs:
            raise nats_errors.ConnectionDrainingError
        header = b"".join((_NATS_HEADER_LINE, message.header_lines, extra_lines, b"\r\n"))
        size = len(header) + len(message.payload)
        command = b"".join(
            (
                f"HPUB {message.subject} {reply} {len(header)} {size}\r\n".encode(),
                header,
                message.payload,
                b"\r\n",
            )
        )
        # The protocol line that Client.publish would hand to the same buffer.
        await nc._send_command(command)
        if nc._flush_queue is not None and nc._flush_queue.empty():
            await nc._flush_pending()

    async def _replied(self, message: Msg) -> None:
        reply = self._waiting.pop(message.subject, None)
        if reply is not None and not reply.done():
            reply.set_result(message)


def confirm(sent: Sent) -> None:
    """That the broker stored the whole send where it had to land (``PublishRefused`` if
    not). Call once its reply is done."""
    reply = sent.reply.result()
    if not reply.data:  # a status without a body: no stream took the subject (503), say
        status = (reply.headers or {}).get("Status", "unknown")
        raise PublishRefused(f"no acknowledgement, status {status}")
    ack = _decode_ack(reply.data)
    if ack.error is not None:
        raise PublishRefused(ack.error.description, ack.error.err_code)
    expected = (sent.last_sequence, sent.count if sent.batched else 0, False)
    if (ack.seq, ack.count, ack.duplicate) != expected:
        raise PublishRefused(
            f"acknowledged as sequence {ack.seq} ({ack.count} in a batch, duplicate:"
            f" {ack.duplicate}), expected {expected}"
        )
