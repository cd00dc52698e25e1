"""Awards and credentials end to end: ledger, relay, NATS, projector, issuer, and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proto.envelope import Role
from proto.issuer import ISSUER_STREAM, issuer_message_decoder
from tests.support.issuer import (
    CAM,
    CERTIFICATE,
    DIPLOMA,
    awards_in_log,
    by_code,
    define_diploma,
    holds,
    pass_modules,
    query,
    revoke_pass,
    running_issuer,
    schema_errors,
)
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

MACHINIST = "810000000001"
DIPLOMATE = "820000000001"


async def test_a_completed_certificate_is_awarded_once_with_a_credential_anyone_can_verify(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    joserfc = pytest.importorskip("joserfc")
    from joserfc import jwt
    from joserfc.jwk import KeySet as JoseKeySet

    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        await pass_modules(ledger, MACHINIST)
        [credential] = await issuer.wait_for(MACHINIST, holds(CERTIFICATE))

        awards = await awards_in_log(ledger, MACHINIST)
        assert [a["type"] for a in awards] == ["QualificationAwarded"]
        assert awards[0]["data"]["award_id"] == credential["award_id"]
        assert awards[0]["metadata"]["actor"]["role"] == "issuer"

        document = credential["credential"]
        assert schema_errors(document) == []
        assert MACHINIST not in json.dumps(document)
        assert document["credentialSubject"]["creditsEarned"] == 12

        # An independent JOSE library, given only the published JWKS, accepts the signature.
        published = (await issuer.client.get("/.well-known/jwks.json")).json()
        token = jwt.decode(credential["jwt"], JoseKeySet.import_key_set(published))
        assert token.header["kid"] == credential["key_id"]
        assert token.claims["jti"] == document["id"]
        assert joserfc.__name__ == "joserfc"

        report = await issuer.verify(credential["jwt"])
        assert report["valid"], report
        did = (await issuer.client.get("/.well-known/did.json")).json()
        assert did["id"] == document["issuer"]["id"]
        base = str(issuer.client.base_url).rstrip("/")
        assert credential["key_id"].startswith(f"{did['id']}#")
        thumbprint = credential["key_id"].rsplit("#", 1)[1]
        key = (await issuer.client.get(f"/v1/keys/{thumbprint}")).json()
        assert key["kid"] == f"{base}/v1/keys/{thumbprint}"
        assert "d" not in key
        public = (await issuer.client.get(credential["credential_url"].removeprefix(base))).json()
        assert (public["status"], public["jwt"]) == ("active", credential["jwt"])

        # Only the roles that may read learners' records get them.
        for role, status in ((Role.INSTITUTION, 403), (Role.ISSUER, 200)):
            institution = "NSTI-CHENNAI" if role is Role.INSTITUTION else None
            headers = await ledger.headers(role, institution)
            response = await issuer.client.get(
                f"/v1/learners/{MACHINIST}/credentials", headers=headers
            )
            assert response.status_code == status
        assert (await issuer.client.get(f"/v1/learners/{MACHINIST}/credentials")).status_code == 401

        [decision] = await query(
            database_url,
            "SELECT outcome, award_id::text AS award_id FROM issuer.award_decisions"
            " WHERE learner_id = $1",
            MACHINIST,
        )
        assert (decision["outcome"], decision["award_id"]) == ("awarded", credential["award_id"])

        messages = await read_stream_messages(
            nats.url, ISSUER_STREAM, "issuer.v1.credential.issued.>", 1
        )
        assert len(messages) == 1
        issued = issuer_message_decoder.decode(messages[0].data)
        assert issued.award_id == credential["award_id"]
        assert MACHINIST not in messages[0].subject


async def test_the_diploma_stacks_on_the_certificate_by_itself_and_a_unit_revokes_only_it(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        await define_diploma(ledger)
        passes = await pass_modules(ledger, DIPLOMATE, (*("CNC-FUND", "CNC-PROG", "CNC-ADV"), CAM))
        passes |= await pass_modules(ledger, DIPLOMATE, ("CNC-MAINT", "CNC-QC"))
        # Nobody asks for the diploma: the certificate's award makes the learner eligible.
        found = await issuer.wait_for(DIPLOMATE, holds(CERTIFICATE, DIPLOMA))
        [diploma] = by_code(found, DIPLOMA)
        assert diploma["credential"]["credentialSubject"]["achievement"]["achievementType"] == (
            "Diploma"
        )
        assert diploma["credential"]["credentialSubject"]["creditsEarned"] == 15
        assert schema_errors(diploma["credential"]) == []

        await revoke_pass(ledger, DIPLOMATE, passes[CAM])
        found = await issuer.wait_for(DIPLOMATE, holds(DIPLOMA, active=False))
        assert [c["status"] for c in by_code(found, CERTIFICATE)] == ["active"]
        [revoked] = by_code(found, DIPLOMA)
        assert "missing required CNC-CAM" in revoked["revocation_reason"]
        report = await issuer.verify(revoked["jwt"])
        assert not report["status"]["ok"]
        assert "revoked" in report["status"]["reason"]
        assert (await issuer.verify(by_code(found, CERTIFICATE)[0]["jwt"]))["valid"]

        types = [a["type"] for a in await awards_in_log(ledger, DIPLOMATE)]
        assert types == ["QualificationAwarded", "QualificationAwarded", "QualificationRevoked"]
