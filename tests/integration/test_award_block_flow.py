"""An admin's fraud revocation, end to end: ledger, relay, projector and issuer.

The credential is revoked, the rule still holds on the learner's passes, and yet no award
follows: the projector announces nothing and explains why, until an admin lifts the block,
after which the issuer awards the next generation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.awards import award_id
from proto.envelope import Role
from tests.support.factories import append_body
from tests.support.issuer import (
    CERTIFICATE,
    awards_in_log,
    by_code,
    holds,
    pass_modules,
)
from tests.support.projector import record_pass
from tests.support.servers import NatsHandle
from tests.support.system import running_system

pytestmark = pytest.mark.integration

LEARNER = "860000000001"
NOTE = "attendance sheets forged; NCVET case 2026/41"


async def test_a_fraud_revocation_is_not_followed_by_an_automatic_re_award(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with running_system(database_url, nats.url, tmp_path) as system:
        ledger, projector, issuer = system.ledger, system.projector, system.issuer
        await pass_modules(ledger, LEARNER)
        [first] = await issuer.wait_for(LEARNER, holds(CERTIFICATE))
        fraud = {
            "type": "QualificationRevoked",
            "award_id": first["award_id"],
            "learner_id": LEARNER,
            "qualification_code": CERTIFICATE,
            "reason": "revoked by the awarding body",
            "reason_code": "fraud",
            "note": NOTE,
        }
        response = await ledger.post("/v1/events", append_body(fraud), Role.ADMIN)
        assert response.status_code == 201, response.text
        await issuer.wait_for(LEARNER, holds(CERTIFICATE, active=False))

        # A retaken module makes the projector judge the rule again: satisfied, but blocked.
        _, retake_position = await record_pass(
            ledger, LEARNER, "NSTI-CHENNAI", "CNC-MAINT", "2026-07-01"
        )
        await projector.caught_up()
        progress = (await projector.get(f"/v1/learners/{LEARNER}/progress/{CERTIFICATE}")).json()
        assert progress["satisfied"] is True
        assert progress["award_block"]["reason_code"] == "fraud"
        assert progress["award_block"]["note"] == NOTE
        assert any("an admin must lift the block" in line for line in progress["explanation"])

        lift = {
            "type": "AwardBlockLifted",
            "learner_id": LEARNER,
            "qualification_code": CERTIFICATE,
            "note": "cleared on appeal",
        }
        response = await ledger.post("/v1/events", append_body(lift), Role.ADMIN)
        assert response.status_code == 201, response.text
        lifted_at = response.json()["position"]

        found = await issuer.wait_for(
            LEARNER,
            lambda c: len([x for x in by_code(c, CERTIFICATE) if x["status"] == "active"]) == 1,
        )
        renewed = next(c for c in by_code(found, CERTIFICATE) if c["status"] == "active")
        assert renewed["award_id"] == award_id(LEARNER, CERTIFICATE, 1, 1)
        log = await awards_in_log(ledger, LEARNER)
        assert [e["type"] for e in log] == [
            "QualificationAwarded",
            "QualificationRevoked",
            "QualificationAwarded",
        ]
        # Nothing was awarded between the retake and the lift.
        assert retake_position < lifted_at < log[-1]["position"]
