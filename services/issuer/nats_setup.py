"""The issuer's JetStream objects, declared explicitly with every setting spelled out.

Three durable pull consumers, shared by every issuer replica (JetStream hands each message
to one of them; a crashed replica's unacknowledged messages come back after the ack wait):

- ``issuer-awards`` on CREDIT: QualificationEligible hints;
- ``issuer-credentials`` on LEDGER: QualificationAwarded / QualificationRevoked, so a crash
  between an award's append and its signing is repaired by redelivery;
- ``issuer-revocations`` on LEDGER: AssessmentRevoked / CredentialRevoked.

Redelivery delays after a failure come from the issuer's own bounded exponential backoff
(``nak`` with a delay), so ``backoff`` is left unset and ``ack_wait`` only covers a replica
that died holding a message. ``max_deliver`` is one more than the dead-letter threshold:
the issuer moves a message to its dead-letter subject itself, and the broker's limit is only
the backstop if that very delivery is lost too.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    ReplayPolicy,
    StreamConfig,
)

from proto.derived import CREDIT_STREAM
from proto.issuer import ISSUER_STREAM, ISSUER_SUBJECTS
from proto.subjects import LEARNER_CATEGORY, LEDGER_STREAM, SUBJECT_PREFIX
from services.common.messaging import declare_stream, stream_config

AWARDS_CONSUMER = "issuer-awards"
CREDENTIALS_CONSUMER = "issuer-credentials"
REVOCATIONS_CONSUMER = "issuer-revocations"
MAX_ACK_PENDING = 1000
MAX_WAITING = 64
DUPLICATE_WINDOW_S = 120.0


def issuer_stream_config(replicas: int) -> StreamConfig:
    return stream_config(
        ISSUER_STREAM,
        list(ISSUER_SUBJECTS),
        "Credentials issued and revoked by the issuer (issuer.v2, and the deprecated"
        " issuer.v1); its dead letters.",
        replicas,
    )


async def declare_issuer_stream(js: JetStreamContext, replicas: int) -> None:
    await declare_stream(js, issuer_stream_config(replicas))


def learner_subjects(event_type: str) -> str:
    """Every learner's events of one type: ``ledger.v1.learner.<bucket>.<id>.<type>``
    (proto.subjects.subject_for)."""
    return f"{SUBJECT_PREFIX}.{LEARNER_CATEGORY}.*.*.{event_type}"


def _consumer(
    name: str, description: str, subjects: list[str], ack_wait_s: float, dead_letter_after: int
) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=name,
        description=description,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=dead_letter_after + 1,
        backoff=None,
        max_ack_pending=MAX_ACK_PENDING,
        max_waiting=MAX_WAITING,
        filter_subjects=subjects,
        replay_policy=ReplayPolicy.INSTANT,
        inactive_threshold=None,
        num_replicas=0,
        mem_storage=False,
    )


def awards_consumer_config(ack_wait_s: float, dead_letter_after: int) -> ConsumerConfig:
    return _consumer(
        AWARDS_CONSUMER,
        "Awards qualifications when the projector finds a learner eligible.",
        ["credit.v1.eligible.>"],
        ack_wait_s,
        dead_letter_after,
    )


def credentials_consumer_config(ack_wait_s: float, dead_letter_after: int) -> ConsumerConfig:
    return _consumer(
        CREDENTIALS_CONSUMER,
        "Signs a credential for every award and revokes it with the award.",
        [
            learner_subjects("QualificationAwarded"),
            learner_subjects("QualificationRevoked"),
        ],
        ack_wait_s,
        dead_letter_after,
    )


def revocations_consumer_config(ack_wait_s: float, dead_letter_after: int) -> ConsumerConfig:
    return _consumer(
        REVOCATIONS_CONSUMER,
        "Revokes the awards a revoked pass or certificate no longer supports.",
        [
            learner_subjects("AssessmentRevoked"),
            learner_subjects("CredentialRevoked"),
        ],
        ack_wait_s,
        dead_letter_after,
    )


STREAM_OF_CONSUMER = {
    AWARDS_CONSUMER: CREDIT_STREAM,
    CREDENTIALS_CONSUMER: LEDGER_STREAM,
    REVOCATIONS_CONSUMER: LEDGER_STREAM,
}


async def declare_issuer_consumers(
    js: JetStreamContext, ack_wait_s: float, dead_letter_after: int
) -> None:
    """Create (or bring up to date) the issuer's durable consumers; never implicitly."""
    await js.add_consumer(CREDIT_STREAM, awards_consumer_config(ack_wait_s, dead_letter_after))
    for config in (
        credentials_consumer_config(ack_wait_s, dead_letter_after),
        revocations_consumer_config(ack_wait_s, dead_letter_after),
    ):
        await js.add_consumer(LEDGER_STREAM, config)
