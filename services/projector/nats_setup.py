"""The projector's JetStream objects, declared explicitly with every setting spelled out."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    ReplayPolicy,
    StreamConfig,
)

from proto.derived import CREDIT_STREAM, CREDIT_SUBJECTS
from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS
from services.common.messaging import declare_stream, stream_config

PROJECTOR_CONSUMER = "projector"
ACK_WAIT_S = 30.0
# Redelivery backoff; its first step replaces ack_wait, so it must outlast a batch (a 1 s
# first step made JetStream redeliver batches still being applied). max_deliver is unbounded because the projector must never skip an
# event: a message that keeps failing stops the projector loudly instead.
BACKOFF_S = [ACK_WAIT_S, 60.0, 120.0, 300.0]
MAX_ACK_PENDING = 5000


def credit_stream_config(replicas: int) -> StreamConfig:
    return stream_config(
        CREDIT_STREAM,
        [CREDIT_SUBJECTS],
        "Messages derived from the log: eligibility thresholds, credit bank changes.",
        replicas,
    )


def projector_consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=PROJECTOR_CONSUMER,
        description="Folds every ledger event into the credit bank read model.",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_S,
        max_deliver=-1,
        backoff=BACKOFF_S,
        max_ack_pending=MAX_ACK_PENDING,
        max_waiting=64,
        filter_subject=LEDGER_SUBJECTS,
        replay_policy=ReplayPolicy.INSTANT,
        inactive_threshold=None,
        num_replicas=0,
        mem_storage=False,
    )


async def declare_credit_stream(js: JetStreamContext, replicas: int) -> None:
    await declare_stream(js, credit_stream_config(replicas))


async def declare_projector_consumer(js: JetStreamContext) -> None:
    """Create the durable consumer (never left to a library to create implicitly)."""
    await js.add_consumer(LEDGER_STREAM, projector_consumer_config())
