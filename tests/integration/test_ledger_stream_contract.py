"""The LEDGER stream as an outside consumer reads it, knowing only proto/asyncapi.json and
the JSON Schemas: every message the relay publishes (the catalog, institutions and
learners' events) has a channel, the CloudEvents headers and a valid body (issue 12)."""

from __future__ import annotations

import pytest

from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS
from tests.support.asyncapi_contract import channel_of, check_message
from tests.support.factories import ATI, NSTI, assessment_revoked, credits_redeemed
from tests.support.ledger import served_ledger
from tests.support.projector import record_pass
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

LEARNER = "930000000001"


async def test_every_ledger_message_is_what_the_contract_describes(
    database_url: str, nats: NatsHandle
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        kept, _ = await record_pass(ledger, LEARNER, NSTI, "CNC-FUND", "2026-01-15")
        revoked, _ = await record_pass(ledger, LEARNER, ATI, "CNC-ADV", "2026-02-15")
        response = await ledger.append(
            assessment_revoked(assessment_id=revoked, learner_id=LEARNER, institution_id=ATI),
            ATI,
        )
        assert response.status_code == 201, response.text
        response = await ledger.append(
            credits_redeemed(passes=[(NSTI, kept)], learner_id=LEARNER, institution_id=NSTI),
            NSTI,
        )
        assert response.status_code == 201, response.text
        head = int((await ledger.get("/v1/head")).json()["position"])
        messages = await read_stream_messages(nats.url, LEDGER_STREAM, LEDGER_SUBJECTS, head)

    assert len(messages) == head
    channels = set()
    for message in messages:
        headers = check_message(message)
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-id"] == headers["Nats-Msg-Id"]
        channels.add(channel_of(message.subject))
    assert {
        "InstitutionRegistered",
        "MicroCredentialDefined",
        "QualificationDefined",
        "AssessmentPassed",
        "AssessmentRevoked",
        "CreditsRedeemed",
    } <= channels
