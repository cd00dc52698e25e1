"""A message the issuer cannot handle goes to its dead-letter subject, as AsyncAPI says.

A hint on ``CREDIT`` that is not a QualificationEligible is a permanent failure: the
awards consumer publishes it, unchanged, to ``issuer.v1.dead-letter.issuer-awards`` with
the headers ``proto.issuer.DEAD_LETTER_HEADERS`` names (the document's required headers),
then drops it, and goes on with the messages behind it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import nats as nats_client
import pytest

from credit_ledger.infra import declare_streams
from proto.derived import CREDIT_STREAM, eligible_subject
from proto.issuer import (
    DEAD_LETTER_HEADERS,
    DELIVERIES_HEADER,
    ERROR_HEADER,
    ISSUER_STREAM,
    ORIGINAL_STREAM_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    dead_letter_subject,
)
from tests.support.asyncapi_contract import check_message
from tests.support.factories import CNC_LEARNER
from tests.support.issuer import running_issuer
from tests.support.ledger import served_ledger
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

GARBAGE = b'{"not": "a QualificationEligible"'


async def test_an_undecodable_hint_is_dead_lettered_with_its_origin(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    subject = eligible_subject("ADV-CNC-MACHINING", CNC_LEARNER)
    await declare_streams(nats.url, 1)  # CREDIT is the projector's, which this test does not run
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_issuer(ledger, database_url, nats.url, tmp_path),
    ):
        client = await nats_client.connect(nats.url, connect_timeout=5, max_reconnect_attempts=5)
        try:
            await client.jetstream().publish(
                subject, GARBAGE, headers={"Nats-Msg-Id": str(uuid.uuid4())}, stream=CREDIT_STREAM
            )
        finally:
            await client.close()
        letters = await read_stream_messages(
            nats.url, ISSUER_STREAM, dead_letter_subject("issuer-awards"), 1, timeout_s=30
        )
    assert len(letters) == 1
    letter = letters[0]
    assert letter.data == GARBAGE
    # As a consumer that knows only proto/asyncapi.json reads it: its channel and headers.
    headers = check_message(letter)
    assert set(DEAD_LETTER_HEADERS) <= set(headers), headers
    assert headers[ORIGINAL_SUBJECT_HEADER] == subject
    assert headers[ORIGINAL_STREAM_HEADER] == CREDIT_STREAM
    assert headers[DELIVERIES_HEADER] == "1"
    assert headers[ERROR_HEADER].startswith("permanent: not a QualificationEligible")
    assert headers["Nats-Msg-Id"].startswith("dead-letter/issuer-awards/")
