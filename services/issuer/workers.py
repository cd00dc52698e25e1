"""The issuer's JetStream consumer loops: decode, call a handler, acknowledge.

Every replica runs the same three loops on the same durable consumers, and beside them
the reconciliation from the ledger (``services.issuer.reconcile``) for what a lost message
would leave undone. Within a fetched batch, messages of different learners are handled
concurrently and those of one learner in stream order. A handler's outcome decides the acknowledgement:

- success: ``ack``;
- ``PermanentFailure``, or a failure on the ``dead_letter_max_deliveries``-th delivery: the
  message is copied to ``issuer.v1.dead-letter.<consumer>`` (stream ISSUER) with headers
  naming its origin and the error, an ``issuer_dead_letter`` error line is logged, and the
  original is terminated;
- any other failure: ``nak`` with a bounded exponential delay, so it comes back later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from proto import events as ev
from proto.derived import QualificationEligible
from proto.issuer import (
    DELIVERIES_HEADER,
    ERROR_HEADER,
    ERROR_HEADER_MAX_CHARS,
    ISSUER_STREAM,
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_STREAM_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    dead_letter_subject,
)
from services.common.lifecycle import Background, BackgroundLoop, RunsInBackground
from services.common.messaging import (
    MSG_ID_HEADER,
    POSITION_HEADER,
    LedgerHeaders,
    decode_ledger_headers,
    fetch_ready,
    nats_connection,
)
from services.issuer import handlers
from services.issuer.handlers import IssuerContext, PermanentFailure
from services.issuer.nats_setup import (
    AWARDS_CONSUMER,
    CREDENTIALS_CONSUMER,
    REVOCATIONS_CONSUMER,
    STREAM_OF_CONSUMER,
    declare_issuer_consumers,
    declare_issuer_stream,
)
from services.issuer.reconcile import Reconciler

log = structlog.get_logger(__name__)

FETCH_MESSAGES_MAX = 64
FETCH_TIMEOUT_S = 1.0
RETRY_DELAY_MIN_S = 0.5

_eligible_decoder = msgspec.json.Decoder(QualificationEligible)
Handler = Callable[[IssuerContext, Msg], Awaitable[str]]


def retry_delay_s(deliveries: int, cap_s: float) -> float:
    """0.5 s, 1 s, 2 s, ... doubling per delivery, never above ``cap_s``."""
    exponent = max(0, min(deliveries - 1, 20))
    return float(min(cap_s, RETRY_DELAY_MIN_S * (2.0**exponent)))


def learner_of(subject: str) -> str:
    """The learner token of ``credit.v1.eligible.<q>.<learner>`` or
    ``ledger.v1.learner.<bucket>.<id>.<T>``."""
    parts = subject.split(".")
    if parts[:2] == ["ledger", "v1"]:
        return parts[-2]
    return parts[-1]


async def handle_eligible(ctx: IssuerContext, message: Msg) -> str:
    try:
        eligible = _eligible_decoder.decode(message.data)
    except msgspec.DecodeError as exc:
        raise PermanentFailure(f"not a QualificationEligible: {exc}") from exc
    return await handlers.award(ctx, eligible, message.metadata.num_delivered)


def _logged(message: Msg) -> tuple[ev.Event, LedgerHeaders]:
    try:
        return ev.decode_event(message.data), decode_ledger_headers(message.headers)
    except (msgspec.DecodeError, KeyError, ValueError) as exc:
        raise PermanentFailure(f"not a ledger event message: {exc!r}") from exc


async def handle_credential_event(ctx: IssuerContext, message: Msg) -> str:
    event, said = _logged(message)
    match event:
        case ev.QualificationAwarded():
            issued = await handlers.issue_credential(ctx, event, said.position, said.recorded_at)
            return "issued" if issued else "already_issued"
        case ev.QualificationRevoked():
            revoked = await handlers.revoke_credential(ctx, event, said.position, said.recorded_at)
            return "revoked" if revoked else "nothing_to_revoke"
    return "ignored"


async def handle_revocation_event(ctx: IssuerContext, message: Msg) -> str:
    event, said = _logged(message)
    match event:
        case ev.AssessmentRevoked(learner_id=learner) | ev.CredentialRevoked(learner_id=learner):
            count = await handlers.cascade_revocations(ctx, learner, said.event_id)
            return f"revoked_{count}" if count else "nothing_to_revoke"
    return "ignored"


HANDLERS: dict[str, Handler] = {
    AWARDS_CONSUMER: handle_eligible,
    CREDENTIALS_CONSUMER: handle_credential_event,
    REVOCATIONS_CONSUMER: handle_revocation_event,
}


class BackgroundWorker(Background, Protocol):
    """A loop the issuer's lifespan starts and stops; /ready shows ``consuming``."""

    name: str
    consuming: bool


@dataclass(frozen=True)
class WorkerConfig:
    nats_url: str
    stream_replicas: int


class ConsumerWorker(RunsInBackground):
    """One durable consumer's loop, reconnecting with backoff until stopped."""

    def __init__(self, consumer: str, config: WorkerConfig, ctx: IssuerContext) -> None:
        self._consumer = consumer
        self.name = consumer
        self._stream = STREAM_OF_CONSUMER[consumer]
        self._handler = HANDLERS[consumer]
        self._config = config
        self._ctx = ctx
        self._loop = BackgroundLoop(consumer, self._consume, after_each=self._disconnected)
        self.consuming = False

    def _disconnected(self) -> None:
        self.consuming = False

    async def _consume(self) -> None:
        name = f"credit-ledger-{self._consumer}"
        async with nats_connection(self._config.nats_url, name) as nc:
            js = nc.jetstream(timeout=10)
            settings = self._ctx.settings
            await declare_issuer_stream(js, self._config.stream_replicas)
            await declare_issuer_consumers(
                js, settings.ack_wait_s, settings.dead_letter_max_deliveries
            )
            subscription = await js.pull_subscribe_bind(durable=self._consumer, stream=self._stream)
            self.consuming = True
            while True:
                try:
                    batch = await fetch_ready(subscription, FETCH_MESSAGES_MAX, FETCH_TIMEOUT_S)
                except TimeoutError:  # nats.errors.TimeoutError is one too
                    continue
                await self._handle_batch(js, batch)

    async def _handle_batch(self, js: JetStreamContext, batch: list[Msg]) -> None:
        by_learner: dict[str, list[Msg]] = {}
        for message in batch:
            by_learner.setdefault(learner_of(message.subject), []).append(message)

        async def in_order(messages: list[Msg]) -> None:
            for message in messages:
                await self._handle(js, message)

        await asyncio.gather(*(in_order(group) for group in by_learner.values()))

    async def _handle(self, js: JetStreamContext, message: Msg) -> None:
        deliveries = message.metadata.num_delivered
        settings = self._ctx.settings
        metrics = self._ctx.metrics
        started = time.perf_counter()
        try:
            outcome = await self._handler(self._ctx, message)
        except asyncio.CancelledError:
            raise
        except PermanentFailure as exc:
            await self._dead_letter(js, message, f"permanent: {exc}")
            return
        except Exception as exc:
            if deliveries >= settings.dead_letter_max_deliveries:
                await self._dead_letter(js, message, repr(exc))
                return
            delay = retry_delay_s(deliveries, settings.retry_backoff_max_s)
            log.warning(
                "issuer_message_failed",
                consumer=self._consumer,
                subject=message.subject,
                deliveries=deliveries,
                error=repr(exc),
                retry_in_s=delay,
            )
            metrics.handled.labels(self._consumer, "retry").inc()
            await message.nak(delay=delay)
            return
        metrics.handled.labels(self._consumer, outcome).inc()
        if settings.faults.skip_first_ack and deliveries == 1:
            log.warning("fault_skip_first_ack", consumer=self._consumer, subject=message.subject)
            return
        await message.ack()
        log.debug(
            "issuer_message_handled",
            consumer=self._consumer,
            outcome=outcome,
            seconds=round(time.perf_counter() - started, 4),
        )

    async def _dead_letter(self, js: JetStreamContext, message: Msg, error: str) -> None:
        meta = message.metadata
        sequence = meta.sequence.stream
        subject = dead_letter_subject(self._consumer)
        await js.publish(
            subject,
            message.data,
            headers={
                MSG_ID_HEADER: f"dead-letter/{self._consumer}/{meta.stream}/{sequence}",
                ORIGINAL_SUBJECT_HEADER: message.subject,
                ORIGINAL_STREAM_HEADER: meta.stream,
                ORIGINAL_SEQUENCE_HEADER: str(sequence),
                DELIVERIES_HEADER: str(meta.num_delivered),
                ERROR_HEADER: error[:ERROR_HEADER_MAX_CHARS],
            },
            stream=ISSUER_STREAM,
        )
        await message.term()
        self._ctx.metrics.dead_letters.labels(self._consumer).inc()
        log.error(
            "issuer_dead_letter",
            consumer=self._consumer,
            subject=message.subject,
            stream=meta.stream,
            stream_sequence=sequence,
            deliveries=meta.num_delivered,
            error=error[:ERROR_HEADER_MAX_CHARS],
            dead_letter_subject=subject,
            ledger_position=(message.headers or {}).get(POSITION_HEADER),
            action=_action(meta.stream, sequence, message.subject, subject),
        )


def _action(stream: str, sequence: int, original: str, dead_letters: str) -> str:
    if stream == ISSUER_STREAM or not original.startswith("ledger."):
        return (
            f"fix the cause, then re-publish the copy kept on {dead_letters} (stream"
            f" {ISSUER_STREAM}) to {original}; the original is `nats stream get {stream}"
            f" {sequence}`"
        )
    # Never re-publish onto the LEDGER stream: only the relay writes there, in log order.
    # Reconciliation passes over a permanent failure too; set its checkpoint back to have it
    # read the event again.
    return (
        f"fix the cause; the event stays in the ledger (see ledger_position) and its copy on"
        f" {dead_letters}; until it is handled again its award lacks a credential or"
        f" revocation: set issuer.reconcile_checkpoint.position below ledger_position and"
        f" the next reconciliation pass handles it (or restart the consumer from {stream}"
        f" {sequence})"
    )


def consumer_workers(config: WorkerConfig, ctx: IssuerContext) -> list[BackgroundWorker]:
    """The three consumers and the reconciliation that backs them up."""
    workers: list[BackgroundWorker] = [
        ConsumerWorker(name, config, ctx)
        for name in (AWARDS_CONSUMER, CREDENTIALS_CONSUMER, REVOCATIONS_CONSUMER)
    ]
    workers.append(Reconciler(ctx))
    return workers
