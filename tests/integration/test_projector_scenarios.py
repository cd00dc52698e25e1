"""Learners from the demo catalog, end to end through HTTP, the relay, NATS and the projector."""

from __future__ import annotations

import json

import pytest

from proto.derived import CREDIT_STREAM
from tests.support.factories import ATI, NSTI, assessment_passed
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

TECHNICIAN = "111122223333"


async def test_a_technician_collects_five_cnc_modules_at_two_institutions_over_two_years(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        plan = [
            (NSTI, "CNC-FUND", "2025-01-15"),
            (NSTI, "CNC-PROG", "2025-06-20"),
            (ATI, "CNC-ADV", "2026-01-10"),
            (ATI, "CNC-MAINT", "2026-05-05"),
        ]
        for institution, code, day in plan:
            passed = assessment_passed(
                learner_id=TECHNICIAN, institution_id=institution, code=code, assessed_on=day
            )
            assert (await ledger.append(passed, institution)).status_code == 201
        await projector.caught_up()
        before = await projector.progress(TECHNICIAN, "ADV-CNC-MACHINING")
        assert before["satisfied"] is False
        assert before["missing_required"] == ["CNC-QC"]

        last = assessment_passed(
            learner_id=TECHNICIAN, institution_id=ATI, code="CNC-QC", assessed_on="2026-09-01"
        )
        assert (await ledger.append(last, ATI)).status_code == 201
        await projector.caught_up()
        after = await projector.progress(TECHNICIAN, "ADV-CNC-MACHINING")
        assert after["satisfied"] is True
        assert after["counted_credits"]["exact"] == "12"
        bank = await projector.bank(TECHNICIAN)
        assert bank["credit_bank"]["total_hours"] == 360
        assert bank["credit_bank"]["credit_points"]["exact"] == "99/2"

        messages = await read_stream_messages(nats.url, CREDIT_STREAM, "credit.v1.eligible.>", 1)
        assert len(messages) == 1
        eligible = json.loads(messages[0].data)
        assert eligible["learner_id"] == TECHNICIAN
        assert eligible["qualification_code"] == "ADV-CNC-MACHINING"
        assert eligible["award_generation"] == 0
