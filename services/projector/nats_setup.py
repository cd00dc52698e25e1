"""The projector's JetStream objects, declared explicitly with every setting spelled out."""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    ReplayPolicy,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from proto.derived import CREDIT_STREAM, CREDIT_SUBJECTS
from proto.partitions import Partition
from proto.subjects import LEDGER_STREAM, partition_subjects
from services.common.messaging import declare_stream, stream_config

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


def projector_consumer(partition: Partition) -> str:
    return f"projector-{partition.index}-of-{partition.count}"


def projector_consumer_config(partition: Partition, start_position: int) -> ConsumerConfig:
    """A partition's consumer: its learners' events and every catalog event, from a start.

    The relay publishes every event in position order, so a message's stream sequence is
    its position: starting at the checkpoint + 1 skips what the read model holds.
    """
    return ConsumerConfig(
        durable_name=projector_consumer(partition),
        description=f"Folds partition {partition}'s ledger events into the credit bank read model.",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start_position,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_S,
        max_deliver=-1,
        backoff=BACKOFF_S,
        max_ack_pending=MAX_ACK_PENDING,
        max_waiting=64,
        filter_subjects=partition_subjects(partition),
        replay_policy=ReplayPolicy.INSTANT,
        inactive_threshold=None,
        num_replicas=0,
        mem_storage=False,
    )


async def declare_credit_stream(js: JetStreamContext, replicas: int) -> None:
    await declare_stream(js, credit_stream_config(replicas))


async def bind_projector_consumer(
    js: JetStreamContext, partition: Partition, checkpoint: int
) -> None:
    """(Re)create the partition's durable consumer at its checkpoint + 1 (never left to a
    library to create implicitly). A new leader always binds afresh: what its predecessor
    fetched but never acknowledged comes again at once, not after the ack wait."""
    await drop_projector_consumer(js, partition)
    await js.add_consumer(LEDGER_STREAM, projector_consumer_config(partition, checkpoint + 1))


async def drop_projector_consumer(js: JetStreamContext, partition: Partition) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(LEDGER_STREAM, projector_consumer(partition))
