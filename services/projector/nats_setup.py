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
from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS, partition_subjects
from services.common.messaging import declare_stream, decode_ledger_headers, stream_config

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


def projector_consumer_config(partition: Partition, start_sequence: int) -> ConsumerConfig:
    """A partition's consumer: its learners' events and every catalog event, from a
    stream sequence on."""
    return ConsumerConfig(
        durable_name=projector_consumer(partition),
        description=f"Folds partition {partition}'s ledger events into the credit bank read model.",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start_sequence,
        # A batch is committed whole, in order: acknowledging its last message
        # acknowledges the batch (one ack a batch, not one a message).
        ack_policy=AckPolicy.ALL,
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
    """(Re)create the partition's durable consumer at the first message past its
    checkpoint (never left to a library to create implicitly). A new leader always binds
    afresh: what its predecessor fetched but never acknowledged comes again at once, not
    after the ack wait."""
    start = await first_sequence_after(js, checkpoint)
    await drop_projector_consumer(js, partition)
    await js.add_consumer(LEDGER_STREAM, projector_consumer_config(partition, start))


async def first_sequence_after(js: JetStreamContext, position: int) -> int:
    """The stream sequence of the first LEDGER message past a log position, found by halves.

    Positions rise with sequences (the relay publishes in position order), but they need not
    be equal: a stream may hold only the log's later part, or have lost messages."""
    state = (await js.stream_info(LEDGER_STREAM)).state
    if not state.messages:
        return state.last_seq + 1
    low, high = state.first_seq, state.last_seq + 1
    while low < high:
        middle = (low + high) // 2
        try:
            # The first message at or after ``middle``: a lost one leaves a hole.
            found = await js.get_msg(LEDGER_STREAM, seq=middle, subject=LEDGER_SUBJECTS, next=True)
        except NotFoundError:
            high = middle
            continue
        if decode_ledger_headers(found.headers).position > position:
            high = middle
        else:
            low = (found.seq if found.seq is not None else middle) + 1
    return low


async def drop_projector_consumer(js: JetStreamContext, partition: Partition) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(LEDGER_STREAM, projector_consumer(partition))
