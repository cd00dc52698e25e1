"""More learners from the demo catalog, end to end through HTTP, the relay, NATS and the
projector: RPL with its cap, shelf life, revocation, redemption, the eligible-learner list,
and the projector's own surface (problems, keys, health, readiness, metrics)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proto.derived import CREDIT_STREAM, eligible_subject
from tests.support.asyncapi_contract import check_message
from tests.support.factories import (
    ATI,
    CNC_MODULES,
    IHM,
    NSTI,
    assessment_revoked,
    credits_redeemed,
)
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import metric_value, record_pass, running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

THSC_RPL = "THSC-RPL"
NIELIT = "NIELIT-DELHI"

KITCHEN_ASSISTANT = "300000000001"
SOFTWARE_DEVELOPER = "400000000001"
RETURNING_MACHINIST = "500000000001"
MACHINIST = "600000000001"
TRANSFER_STUDENT = "700000000001"


async def complete_cnc_modules(
    ledger: Ledger, learner_id: str, modules: list[tuple[str, str, str]] = CNC_MODULES
) -> dict[str, str]:
    """Record the CNC passes; returns each code's assessment id."""
    assessments = {}
    for institution, code, day in modules:
        assessments[code], _ = await record_pass(ledger, learner_id, institution, code, day)
    return assessments


def not_counted(progress: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(n["micro_credential_code"], n["reason"], n["hours"]) for n in progress["not_counted"]]


def codes(passes: list[dict[str, Any]]) -> list[str]:
    return sorted(p["micro_credential_code"] for p in passes)


async def test_rpl_credits_count_only_up_to_the_rule_share_until_a_course_makes_up_the_rest(
    database_url: str, nats: NatsHandle
) -> None:
    # CULINARY-ARTS-CERT: min 11 credits = 330 h; RPL counts up to 0.5 x 11 = 5.5 credits
    # = 165 h. RPL: hygiene 30 + basic 90 + kitchen 60 = 180 h, so the latest RPL pass
    # (kitchen) is cut by 15 h. Courses: Indian 90 + bakery 60 = 150 h.
    # Counted: 165 + 150 = 315 h = 10.5 credits < 11 (uncapped it would be exactly 330 h).
    # With F&B service (60 h): 165 + 210 = 375 h = 12.5 credits >= 11.
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learner = KITCHEN_ASSISTANT
        for code, day in [
            ("CUL-HYGIENE", "2026-02-02"),
            ("CUL-BASIC", "2026-02-03"),
            ("CUL-KITCHEN", "2026-02-04"),
        ]:
            await record_pass(ledger, learner, THSC_RPL, code, day, mode="rpl")
        await record_pass(ledger, learner, IHM, "CUL-INDIAN", "2026-05-10")
        await record_pass(ledger, learner, IHM, "CUL-BAKERY", "2026-06-15")
        await projector.caught_up()

        capped = await projector.progress(learner, "CULINARY-ARTS-CERT")
        assert capped["satisfied"] is False
        assert capped["missing_required"] == []
        assert capped["electives"][0]["short_by"] == 0
        assert capped["counted_hours"] == 315
        assert capped["counted_credits"]["exact"] == "21/2"
        assert capped["rpl_credits_counted"]["exact"] == "11/2"
        assert not_counted(capped) == [("CUL-KITCHEN", "rpl_cap", 15)]
        assert any(
            "15 h" in line and "RPL credits are capped at the rule's share" in line
            for line in capped["explanation"]
        )
        assert "credits: 10.50 counted of 11 required (315 h; RPL 5.50)" in " ".join(
            capped["explanation"]
        )

        _, fnb_position = await record_pass(ledger, learner, IHM, "HOSP-FNB", "2026-07-20")
        await projector.caught_up()
        eligible = await projector.progress(learner, "CULINARY-ARTS-CERT")
        assert eligible["satisfied"] is True
        assert eligible["counted_hours"] == 375
        assert eligible["counted_credits"]["exact"] == "25/2"
        assert eligible["rpl_credits_counted"]["exact"] == "11/2"
        assert eligible["electives"][0]["held"] == ["CUL-BAKERY", "HOSP-FNB"]

        subject = eligible_subject("CULINARY-ARTS-CERT", learner)
        messages = await read_stream_messages(nats.url, CREDIT_STREAM, subject, 1)
        assert len(messages) == 1
        headers = check_message(messages[0])
        assert headers["ce-type"] == "org.credit-ledger.credit.QualificationEligible.v1"
        assert headers["ce-subject"] == learner
        assert headers["ce-id"] == headers["Nats-Msg-Id"]
        message = json.loads(messages[0].data)
        assert message["decided_at_position"] == fnb_position
        assert message["counted_hours"] == 375


async def test_a_developer_who_completes_the_three_ai_modules_becomes_eligible_for_ai_cert(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learner = SOFTWARE_DEVELOPER
        await record_pass(ledger, learner, NIELIT, "AI-INTRO", "2026-01-20")
        await record_pass(ledger, learner, NIELIT, "AI-PYML", "2026-04-18")
        await projector.caught_up()
        assert (await projector.progress(learner, "AI-CERT"))["missing_required"] == ["AI-DL"]

        await record_pass(ledger, learner, NIELIT, "AI-DL", "2026-08-30")
        await projector.caught_up()
        progress = await projector.progress(learner, "AI-CERT")
        assert progress["satisfied"] is True
        # 60 h + 90 h at level 5, 120 h at level 6: 9 credits, 2x5 + 3x5 + 4x6 = 49 points.
        assert progress["counted_credits"]["exact"] == "9"
        assert progress["credit_points"]["exact"] == "49"
        subject = eligible_subject("AI-CERT", learner)
        assert len(await read_stream_messages(nats.url, CREDIT_STREAM, subject, 1)) == 1


async def test_a_pass_that_expired_before_the_last_module_does_not_count_until_retaken(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learner = RETURNING_MACHINIST
        # Validity 7 years: assessed 2018-01-15, the pass expires on 2025-01-15.
        old_fund, _ = await record_pass(ledger, learner, NSTI, "CNC-FUND", "2018-01-15")
        await complete_cnc_modules(ledger, learner, CNC_MODULES[1:])
        await projector.caught_up()

        progress = await projector.progress(learner, "ADV-CNC-MACHINING")
        assert progress["satisfied"] is False
        assert progress["missing_required"] == ["CNC-FUND"]
        assert not_counted(progress) == [("CNC-FUND", "expired", 60)]
        expired = (await projector.bank(learner))["credit_bank"]["expired"]
        assert [(p["assessment_id"], p["expires_on"]) for p in expired] == [
            (old_fund, "2025-01-15")
        ]

        new_fund, _ = await record_pass(ledger, learner, NSTI, "CNC-FUND", "2026-10-01")
        await projector.caught_up()
        progress = await projector.progress(learner, "ADV-CNC-MACHINING")
        assert progress["satisfied"] is True
        assert progress["counted_credits"]["exact"] == "12"
        counted_fund = [c for c in progress["counted"] if c["micro_credential_code"] == "CNC-FUND"]
        assert [c["assessment_id"] for c in counted_fund] == [new_fund]


async def test_revoking_a_component_after_eligibility_makes_progress_unsatisfied(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learner = MACHINIST
        assessments = await complete_cnc_modules(ledger, learner)
        await projector.caught_up()
        assert (await projector.progress(learner, "ADV-CNC-MACHINING"))["satisfied"] is True

        revoked = assessment_revoked(
            assessment_id=assessments["CNC-QC"], learner_id=learner, institution_id=ATI
        )
        assert (await ledger.append(revoked, ATI)).status_code == 201
        await projector.caught_up()

        progress = await projector.progress(learner, "ADV-CNC-MACHINING")
        assert progress["satisfied"] is False
        assert progress["missing_required"] == ["CNC-QC"]
        assert not_counted(progress) == [("CNC-QC", "revoked", 60)]
        bank = (await projector.bank(learner))["credit_bank"]
        assert [p["assessment_id"] for p in bank["revoked"]] == [assessments["CNC-QC"]]
        assert "CNC-QC" not in codes(bank["valid"])


async def test_a_redeemed_pass_leaves_the_valid_credits_and_shows_as_redeemed(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learner = TRANSFER_STUDENT
        fund, _ = await record_pass(ledger, learner, NSTI, "CNC-FUND", "2026-01-15")
        await record_pass(ledger, learner, NSTI, "CNC-PROG", "2026-03-20")
        await projector.caught_up()
        assert (await projector.bank(learner))["credit_bank"]["total_hours"] == 150

        redeemed = credits_redeemed(passes=[(NSTI, fund)], learner_id=learner, institution_id=ATI)
        assert (await ledger.append(redeemed, ATI)).status_code == 201
        await projector.caught_up()

        bank = (await projector.bank(learner))["credit_bank"]
        assert codes(bank["valid"]) == ["CNC-PROG"]
        assert bank["total_hours"] == 90
        assert [p["assessment_id"] for p in bank["redeemed"]] == [fund]
        progress = await projector.progress(learner, "ADV-CNC-MACHINING")
        assert ("CNC-FUND", "redeemed", 60) in not_counted(progress)


async def test_eligible_learners_lists_only_those_who_satisfy_the_rule_page_by_page(
    database_url: str, nats: NatsHandle
) -> None:
    first, not_yet, second = "800000000001", "800000000002", "800000000003"
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        await complete_cnc_modules(ledger, first)
        await complete_cnc_modules(ledger, not_yet, CNC_MODULES[:4])
        await complete_cnc_modules(ledger, second)
        await projector.caught_up()

        path = "/v1/qualifications/ADV-CNC-MACHINING/eligible-learners"
        everyone = (await projector.get(path)).json()
        assert everyone["learners"] == [first, second]
        assert everyone["next_after_learner"] is None

        pages = []
        after = ""
        while True:
            page = (await projector.get(path, limit=1, after_learner=after)).json()
            pages.append(page["learners"])
            if page["next_after_learner"] is None:
                break
            after = page["next_after_learner"]
        assert pages == [[first], [second], []]


async def test_an_unknown_learner_has_no_credit_bank(database_url: str, nats: NatsHandle) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        await projector.caught_up()
        response = await projector.get("/v1/learners/999999999999/credit-bank")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 404
        assert "999999999999" in problem["detail"]
        # A learner id the ledger would never accept is a bad parameter, not an unknown learner.
        for path in ("/v1/learners/abc/credit-bank", f"/v1/learners/abc/progress/{THSC_RPL}"):
            response = await projector.get(path)
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "invalid_parameter"
            assert response.json()["detail"].startswith("learner_id: ")


async def test_the_projector_api_refuses_a_missing_or_unknown_key(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
        await projector.caught_up()
        path = f"/v1/learners/{MACHINIST}/credit-bank"
        assert (await projector.get(path)).status_code == 200

        missing = await projector.client.get(path)
        unknown = await projector.client.get(
            path, headers={"Authorization": "Bearer not-a-key-the-ledger-issued"}
        )
        for response in (missing, unknown):
            assert response.status_code == 401
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == 401


async def test_health_readiness_and_metrics_are_public(database_url: str, nats: NatsHandle) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        head = await projector.caught_up()
        health = await projector.client.get("/health")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        ready = await projector.client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checkpoint"] == head
        metrics = await projector.client.get("/metrics")
        assert metrics.status_code == 200
        assert "projector_events_applied_total" in metrics.text
        assert await metric_value(projector, "projector_events_applied_total") > 0
