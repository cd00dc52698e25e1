"""Where a partition's consumer starts: the first LEDGER message past its checkpoint, found
in the stream by halves, whether the stream's sequences are the log's positions or not
(a stream that holds only the log's later part, or was purged of its earlier messages)."""

from __future__ import annotations

import datetime as dt
import uuid

import nats as nats_client
import pytest

from proto.subjects import LEDGER_STREAM, ce_type, subject_for
from services.common.messaging import LedgerHeaders, declare_ledger_stream, encode_ledger_headers
from services.projector.nats_setup import first_sequence_after
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

FIRST_POSITION = 1000  # the stream starts with the log's position 1000 at sequence 1
MESSAGES = 40
PURGED_BELOW = 11  # the stream then holds sequences 11.. (the stream forbids deletes)


def headers(position: int) -> dict[str, str]:
    said = LedgerHeaders(
        event_id=str(uuid.uuid4()),
        stream="learner-123456789012",
        ce_type=ce_type("AssessmentPassed"),
        position=position,
        stream_version=position,
        recorded_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
        hash_hex="00" * 32,
    )
    return encode_ledger_headers(said, "urn:test")


async def test_the_consumer_starts_at_the_first_message_past_the_checkpoint(
    nats: NatsHandle,
) -> None:
    nc = await nats_client.connect(nats.url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        await declare_ledger_stream(js, 1)
        # Before any message: the next one, whatever its position.
        assert await first_sequence_after(js, 0) == 1
        subject = subject_for("learner-123456789012", "AssessmentPassed")
        for position in range(FIRST_POSITION, FIRST_POSITION + MESSAGES):
            await js.publish(subject, b"{}", headers=headers(position))
        await js.purge_stream(LEDGER_STREAM, seq=PURGED_BELOW)

        def sequence_of(position: int) -> int:
            return position - FIRST_POSITION + 1

        # Before what the stream still holds: its first message.
        assert await first_sequence_after(js, 0) == PURGED_BELOW
        assert await first_sequence_after(js, FIRST_POSITION) == PURGED_BELOW
        first_held = FIRST_POSITION + PURGED_BELOW - 1
        assert await first_sequence_after(js, first_held - 1) == PURGED_BELOW
        assert await first_sequence_after(js, first_held) == PURGED_BELOW + 1
        assert await first_sequence_after(js, first_held + 7) == PURGED_BELOW + 8
        last = FIRST_POSITION + MESSAGES - 1
        assert await first_sequence_after(js, last - 1) == sequence_of(last)
        assert await first_sequence_after(js, last) == MESSAGES + 1
        assert await first_sequence_after(js, last + 500) == MESSAGES + 1
    finally:
        await nc.close()
