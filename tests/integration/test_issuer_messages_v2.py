"""BadgeCredentialIssued / Revoked v2: no raw learner id, on issuer.v2 subjects, beside the
deprecated v1 (until its sunset, or until CREDIT_LEDGER_ISSUER_PUBLISH_V1=false)."""

from __future__ import annotations

import json
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from proto.issuer import (
    ISSUER_STREAM,
    BadgeCredentialIssued,
    BadgeCredentialIssuedV2,
    BadgeCredentialRevoked,
    BadgeCredentialRevokedV2,
    issuer_message_decoder,
)
from services.issuer.credentials.identity import learner_hash
from tests.support.asyncapi_contract import check_message
from tests.support.issuer import CERTIFICATE, SALT, holds, pass_modules, revoke_pass, running_issuer
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

LEARNER = "860000000001"
QUIET = "860000000002"


async def test_a_consumer_sees_v2_without_the_learner_id_and_v1_still_published(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    hashed = learner_hash(SALT, LEARNER)
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        passes = await pass_modules(ledger, LEARNER)
        [credential] = await issuer.wait_for(LEARNER, holds(CERTIFICATE))

        [issued] = await read_stream_messages(
            nats.url, ISSUER_STREAM, f"issuer.v2.credential.issued.{CERTIFICATE}.{hashed}", 1
        )
        assert LEARNER not in issued.data.decode()
        assert LEARNER not in issued.subject
        assert "learner_id" not in json.loads(issued.data)
        v2 = issuer_message_decoder.decode(issued.data)
        assert isinstance(v2, BadgeCredentialIssuedV2)
        assert (v2.award_id, v2.learner_hash) == (credential["award_id"], hashed)
        assert v2.credential_id == credential["credential_id"]
        assert v2.key_id == credential["key_id"]

        # v1, deprecated, is still there with the same facts and its own message id.
        [issued_v1] = await read_stream_messages(
            nats.url, ISSUER_STREAM, f"issuer.v1.credential.issued.{CERTIFICATE}.{hashed}", 1
        )
        v1 = issuer_message_decoder.decode(issued_v1.data)
        assert isinstance(v1, BadgeCredentialIssued)
        assert (v1.learner_id, v1.award_id) == (LEARNER, v2.award_id)
        assert v1.message_id != v2.message_id
        headers = check_message(issued)
        assert headers["Nats-Msg-Id"] == headers["ce-id"] == v2.message_id
        # On ISSUER the CloudEvents subject is the learner hash, never the learner id.
        assert headers["ce-subject"] == hashed
        assert headers["ce-type"] == "org.credit-ledger.issuer.BadgeCredentialIssued.v2"
        assert LEARNER not in json.dumps(headers)
        assert check_message(issued_v1)["ce-subject"] == hashed

        await revoke_pass(ledger, LEARNER, passes["CNC-FUND"])
        await issuer.wait_for(LEARNER, holds(CERTIFICATE, active=False))
        [revoked] = await read_stream_messages(
            nats.url, ISSUER_STREAM, f"issuer.v2.credential.revoked.{CERTIFICATE}.{hashed}", 1
        )
        assert LEARNER not in revoked.data.decode()
        assert "learner_id" not in json.loads(revoked.data)
        revoked_v2 = issuer_message_decoder.decode(revoked.data)
        assert isinstance(revoked_v2, BadgeCredentialRevokedV2)
        assert revoked_v2.award_id == credential["award_id"]
        [revoked_v1] = await read_stream_messages(
            nats.url, ISSUER_STREAM, f"issuer.v1.credential.revoked.{CERTIFICATE}.{hashed}", 1
        )
        for message in (revoked, revoked_v1):
            assert check_message(message)["ce-subject"] == hashed
        old = issuer_message_decoder.decode(revoked_v1.data)
        assert isinstance(old, BadgeCredentialRevoked)
        assert old.learner_id == LEARNER

        # The stream takes both versions; the broker would refuse a subject it does not cover.
        nc = await nats_connect(nats.url)
        try:
            info = await nc.jetstream().stream_info(ISSUER_STREAM)
        finally:
            await nc.close()
        assert info.config.subjects is not None
        assert sorted(info.config.subjects) == ["issuer.v1.>", "issuer.v2.>"]


async def test_v1_can_be_stopped_before_its_sunset(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    hashed = learner_hash(SALT, QUIET)
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(
            ledger, database_url, nats.url, tmp_path, CREDIT_LEDGER_ISSUER_PUBLISH_V1="false"
        ) as issuer,
    ):
        await pass_modules(ledger, QUIET)
        await issuer.wait_for(QUIET, holds(CERTIFICATE))
        [issued] = await read_stream_messages(
            nats.url, ISSUER_STREAM, f"issuer.v2.credential.issued.{CERTIFICATE}.{hashed}", 1
        )
        assert isinstance(issuer_message_decoder.decode(issued.data), BadgeCredentialIssuedV2)
        v1 = await read_stream_messages(
            nats.url, ISSUER_STREAM, "issuer.v1.credential.>", 0, timeout_s=3
        )
        assert v1 == []


async def nats_connect(url: str) -> NatsClient:
    return await nats.connect(url, connect_timeout=5, max_reconnect_attempts=5)
