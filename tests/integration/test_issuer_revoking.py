"""Revocation end to end: awards the log no longer supports are revoked, their status bits
flip, and renewed eligibility is a new award with a new credential."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from domain.awards import award_id
from tests.support.issuer import (
    CERTIFICATE,
    awards_in_log,
    by_code,
    eventually,
    holds,
    pass_modules,
    revoke_pass,
    running_issuer,
)
from tests.support.ledger import served_ledger
from tests.support.projector import record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

RETRAINED = "830000000001"
CAREFUL = "840000000001"


def status_bit(encoded: str, index: int) -> bool:
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


async def test_a_revoked_component_revokes_the_award_and_a_substitute_earns_a_new_one(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        passes = await pass_modules(ledger, RETRAINED)
        [first] = await issuer.wait_for(RETRAINED, holds(CERTIFICATE))

        await revoke_pass(ledger, RETRAINED, passes["CNC-MAINT"])
        [revoked] = await issuer.wait_for(RETRAINED, holds(CERTIFICATE, active=False))
        assert revoked["credential_id"] == first["credential_id"]
        entry = first["credential"]["credentialStatus"]
        base = str(issuer.client.base_url).rstrip("/")
        listed = (
            await issuer.client.get(
                entry["statusListCredential"].removeprefix(base) + "?format=json"
            )
        ).json()
        assert status_bit(listed["credentialSubject"]["encodedList"], int(entry["statusListIndex"]))

        await record_pass(ledger, RETRAINED, "NSTI-CHENNAI", "CNC-MAINT", "2026-07-01")
        found = await issuer.wait_for(RETRAINED, holds(CERTIFICATE))
        old, new = by_code(found, CERTIFICATE)
        assert (old["status"], new["status"]) == ("revoked", "active")
        assert (old["award_generation"], new["award_generation"]) == (0, 1)
        assert new["award_id"] == award_id(RETRAINED, CERTIFICATE, 1, 1)
        assert new["credential_id"] != old["credential_id"]
        assert not (await issuer.verify(old["jwt"]))["valid"]
        assert (await issuer.verify(new["jwt"]))["valid"]
        types = [a["type"] for a in await awards_in_log(ledger, RETRAINED)]
        assert types == ["QualificationAwarded", "QualificationRevoked", "QualificationAwarded"]


async def test_a_still_valid_alternative_pass_keeps_the_award(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        await pass_modules(ledger, CAREFUL, ("CNC-QC",), day="2026-01-10")
        passes = await pass_modules(ledger, CAREFUL)  # CNC-QC again, later: it counts
        [credential] = await issuer.wait_for(CAREFUL, holds(CERTIFICATE))
        await revoke_pass(ledger, CAREFUL, passes["CNC-QC"])

        async def revocation_handled() -> bool:
            text = (await issuer.client.get("/metrics")).text
            sample = (
                'issuer_messages_total{consumer="issuer-revocations",outcome="nothing_to_revoke"}'
            )
            return any(line.startswith(sample) for line in text.splitlines())

        await eventually(revocation_handled, "the revocation to be handled")
        [after] = await issuer.credentials(CAREFUL)
        assert after["status"] == "active"
        assert after["credential_id"] == credential["credential_id"]
        assert [a["type"] for a in await awards_in_log(ledger, CAREFUL)] == ["QualificationAwarded"]
        assert (await issuer.verify(after["jwt"]))["valid"]
