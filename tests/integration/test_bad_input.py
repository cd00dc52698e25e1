"""The bad-input matrix: every refusal is problem+json with its status, and nothing is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from proto.envelope import Role
from tests.support.factories import (
    ATI,
    CNC_LEARNER,
    IHM,
    NSTI,
    OTHER_LEARNER,
    append_body,
    assessment_passed,
    assessment_revoked,
    credential_issued,
    credits_redeemed,
    institution_registered,
    micro_credential_defined,
    qualification_awarded,
)
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"
CATALOG_EVENTS = 28


async def head_of(ledger: Ledger) -> dict[str, Any]:
    response = await ledger.get("/v1/head")
    assert response.status_code == 200, response.text
    head: dict[str, Any] = response.json()
    return head


async def refused(
    ledger: Ledger, request: Awaitable[httpx.Response], status: int, code: str | None
) -> dict[str, Any]:
    """Send ``request``; assert the problem it earns and that the log did not move."""
    before = await head_of(ledger)
    response = await request
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if code is not None:
        assert problem["code"] == code, problem
    assert await head_of(ledger) == before
    return problem


async def recorded(ledger: Ledger, response: Awaitable[httpx.Response]) -> None:
    """Set-up appends must succeed, or the refusal that follows proves nothing."""
    result = await response
    assert result.status_code == 201, result.text


def days_from_today(days: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)


# --- bodies that are not what the contract says ------------------------------------------


async def test_malformed_json_is_a_bad_request(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        headers = {
            **await ledger.headers(Role.INSTITUTION, NSTI),
            "Content-Type": "application/json",
        }
        await refused(
            ledger,
            ledger.client.post("/v1/events", content=b'{"event_id": {not json', headers=headers),
            400,
            "malformed",
        )


async def test_notional_hours_as_a_string_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event: dict[str, Any] = {**micro_credential_defined(code="NEW-MC"), "notional_hours": "60"}
        await refused(ledger, ledger.post("/v1/events", append_body(event)), 422, "invalid_body")


async def test_an_assessment_date_that_is_not_a_date_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(assessed_on="first of March")
        await refused(ledger, ledger.append(event, NSTI), 422, "invalid_body")


async def test_an_unknown_top_level_field_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await refused(
            ledger, ledger.append(assessment_passed(), NSTI, priority="high"), 422, "invalid_body"
        )


async def test_an_unknown_field_inside_the_event_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = {**assessment_passed(), "grade": "A"}
        await refused(ledger, ledger.append(event, NSTI), 422, "invalid_body")


async def test_a_missing_field_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed()
        del event["learner_id"]
        await refused(ledger, ledger.append(event, NSTI), 422, "invalid_body")


async def test_an_unknown_event_type_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = {**assessment_passed(), "type": "AssessmentFailed"}
        await refused(ledger, ledger.append(event, NSTI), 422, "invalid_body")


async def test_a_body_over_the_limit_is_too_large(database_url: str) -> None:
    # The demo catalog alone is bigger than 2 KiB, so this ledger starts empty.
    async with running_ledger(
        database_url, catalog=False, CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES="2048"
    ) as ledger:
        event = micro_credential_defined(code="BIG-MC", learning_outcomes=["x" * 3000])
        await refused(ledger, ledger.post("/v1/events", append_body(event)), 413, "body_too_large")


async def test_a_batch_over_the_event_limit_is_too_large(database_url: str) -> None:
    # The demo catalog is one batch of 28 events, so this ledger starts empty.
    async with running_ledger(
        database_url, catalog=False, CREDIT_LEDGER_BATCH_EVENTS_MAX="5"
    ) as ledger:
        batch = {
            "events": [
                append_body(
                    institution_registered(
                        institution_id=f"INST-{n}", sectors=["CAPITAL-GOODS"], max_level="4"
                    )
                )
                for n in range(6)
            ]
        }
        await refused(ledger, ledger.post("/v1/events/batch", batch), 413, "batch_too_large")


async def test_an_empty_batch_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await refused(
            ledger,
            ledger.post("/v1/events/batch", {"events": []}, Role.INSTITUTION, NSTI),
            422,
            "invalid_body",
        )


# --- who may write ---------------------------------------------------------------------


async def test_a_request_without_a_key_is_unauthenticated(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        before = await head_of(ledger)
        response = await ledger.client.post("/v1/events", json=append_body(assessment_passed()))
        assert response.status_code == 401
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthenticated"
        assert await head_of(ledger) == before


async def test_an_unknown_key_is_unauthenticated(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        made_up = "clk_0123456789abcdef_" + "A" * 43
        await refused(
            ledger,
            ledger.client.post(
                "/v1/events",
                json=append_body(assessment_passed()),
                headers={"Authorization": f"Bearer {made_up}"},
            ),
            401,
            "unauthenticated",
        )


async def test_a_wrong_secret_for_a_real_key_id_is_unauthenticated(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        key_id = (await ledger.key(Role.INSTITUTION, NSTI)).split("_", 2)[1]
        forged = f"clk_{key_id}_" + "B" * 43
        await refused(
            ledger,
            ledger.client.post(
                "/v1/events",
                json=append_body(assessment_passed()),
                headers={"Authorization": f"Bearer {forged}"},
            ),
            401,
            "unauthenticated",
        )


async def test_a_revoked_key_is_unauthenticated(database_url: str) -> None:
    async with running_ledger(database_url, CREDIT_LEDGER_API_KEY_CACHE_TTL_S="0") as ledger:
        await recorded(ledger, ledger.append(assessment_passed(), NSTI))
        key_id = (await ledger.key(Role.INSTITUTION, NSTI)).split("_", 2)[1]
        revoked = await ledger.client.delete(
            f"/v1/admin/api-keys/{key_id}", headers=await ledger.headers(Role.ADMIN)
        )
        assert revoked.status_code == 204, revoked.text
        await refused(ledger, ledger.append(assessment_passed(), NSTI), 401, "unauthenticated")


async def test_an_auditor_may_not_append(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await refused(
            ledger,
            ledger.post("/v1/events", append_body(assessment_passed()), Role.AUDITOR),
            403,
            "forbidden",
        )


async def test_an_institution_may_not_write_in_another_institutions_name(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(institution_id=ATI)
        await refused(ledger, ledger.append(event, NSTI), 403, "not_own_institution")


async def test_an_institution_may_not_define_micro_credentials(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = micro_credential_defined(code="NSTI-OWN")
        await refused(ledger, ledger.append(event, NSTI), 403, "role_not_allowed")


async def test_an_institution_may_not_award_qualifications(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await refused(ledger, ledger.append(qualification_awarded(), NSTI), 403, "role_not_allowed")


# --- what the write model knows --------------------------------------------------------


async def test_an_unknown_micro_credential_code_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(code="CNC-WELDING")
        await refused(ledger, ledger.append(event, NSTI), 422, "unknown_micro_credential")


async def test_an_unregistered_institution_may_not_record_passes(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(institution_id="GHOST-INST")
        await refused(ledger, ledger.append(event, "GHOST-INST"), 403, "institution_unknown")


async def test_an_institution_may_not_record_outside_its_sectors(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(code="HOSP-FUND")
        await refused(ledger, ledger.append(event, NSTI), 403, "outside_accreditation")


async def test_an_institution_may_not_record_above_its_level(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        level_3 = institution_registered(
            institution_id="GOA-LEVEL3", sectors=["TOURISM-HOSPITALITY"], max_level="3"
        )
        await recorded(ledger, ledger.post("/v1/events", append_body(level_3)))
        event = assessment_passed(institution_id="GOA-LEVEL3", code="HOSP-HOTEL-OPS")
        await refused(ledger, ledger.append(event, "GOA-LEVEL3"), 403, "outside_accreditation")


async def test_an_assessment_date_in_the_future_is_unprocessable(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(assessed_on=days_from_today(3))
        await refused(ledger, ledger.append(event, NSTI), 422, "future_date")


async def test_a_learner_id_off_the_configured_pattern_is_unprocessable(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        event = assessment_passed(learner_id="12345")
        await refused(ledger, ledger.append(event, NSTI), 422, "bad_learner_id")


async def test_a_client_may_not_send_the_catalog_snapshot(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = {
            **assessment_passed(),
            "catalog_snapshot": {
                "version": 1,
                "level": "8",
                "notional_hours": 6000,
                "sector": "CAPITAL-GOODS",
                "validity_years": 7,
            },
        }
        await refused(ledger, ledger.append(event, NSTI), 422, "ledger_field")


async def test_an_assessment_id_is_recorded_once_per_institution(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        again = assessment_passed(assessment_id="A-1", code="CNC-PROG")
        await refused(ledger, ledger.append(again, NSTI), 409, "duplicate_assessment")


async def test_another_institution_may_reuse_an_assessment_id(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        same_id = assessment_passed(assessment_id="A-1", institution_id=ATI)
        await recorded(ledger, ledger.append(same_id, ATI))


async def test_a_credential_needs_an_existing_assessment(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = credential_issued(assessment_id="NEVER-ASSESSED")
        await refused(ledger, ledger.append(event, NSTI), 422, "unknown_assessment")


async def test_a_credential_may_not_name_another_learners_assessment(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        event = credential_issued(assessment_id="A-1", learner_id=OTHER_LEARNER)
        await refused(ledger, ledger.append(event, NSTI), 422, "assessment_of_other_learner")


async def test_a_credential_may_not_be_issued_for_a_revoked_assessment(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        await recorded(ledger, ledger.append(assessment_revoked(assessment_id="A-1"), NSTI))
        event = credential_issued(assessment_id="A-1")
        await refused(ledger, ledger.append(event, NSTI), 422, "assessment_revoked")


async def test_an_institution_may_not_revoke_another_institutions_assessment(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        event = assessment_revoked(assessment_id="A-1", institution_id=NSTI)
        await refused(ledger, ledger.append(event, ATI), 403, "not_own_institution")


async def test_an_assessment_is_revoked_only_once(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        await recorded(ledger, ledger.append(assessment_revoked(assessment_id="A-1"), NSTI))
        again = assessment_revoked(assessment_id="A-1")
        await refused(ledger, ledger.append(again, NSTI), 409, "already_revoked")


async def test_an_unknown_pass_cannot_be_redeemed(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = credits_redeemed(passes=[(NSTI, "NEVER-ASSESSED")])
        await refused(ledger, ledger.append(event, ATI), 422, "pass_not_held")


async def test_a_revoked_pass_cannot_be_redeemed(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        await recorded(ledger, ledger.append(assessment_revoked(assessment_id="A-1"), NSTI))
        event = credits_redeemed(passes=[(NSTI, "A-1")])
        await refused(ledger, ledger.append(event, ATI), 422, "pass_not_held")


async def test_a_pass_is_redeemed_only_once(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(assessment_id="A-1"), NSTI))
        await recorded(ledger, ledger.append(credits_redeemed(passes=[(NSTI, "A-1")]), ATI))
        again = credits_redeemed(passes=[(NSTI, "A-1")])
        await refused(ledger, ledger.append(again, ATI), 422, "pass_not_held")


async def test_a_catalog_version_may_not_skip_ahead(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event = micro_credential_defined(code="CNC-FUND", version=3)
        await refused(
            ledger, ledger.post("/v1/events", append_body(event)), 409, "wrong_catalog_version"
        )


async def test_an_expected_version_ahead_of_the_stream_is_a_conflict(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await recorded(ledger, ledger.append(assessment_passed(), NSTI))
        await refused(
            ledger,
            ledger.append(assessment_passed(), NSTI, expected_version=3),
            409,
            "wrong_expected_version",
        )


# --- batches are all or nothing --------------------------------------------------------


async def test_one_refused_item_refuses_the_whole_batch(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        batch = {
            "events": [
                append_body(assessment_passed()),
                append_body(assessment_passed(code="CNC-WELDING")),
                append_body(assessment_passed(learner_id=OTHER_LEARNER)),
            ]
        }
        problem = await refused(
            ledger, ledger.post("/v1/events/batch", batch, Role.INSTITUTION, NSTI), 422, None
        )
        assert [(e["index"], e["status"], e["code"]) for e in problem["errors"]] == [
            (1, 422, "unknown_micro_credential")
        ]


async def test_one_unauthorised_item_refuses_the_whole_batch(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        batch = {
            "events": [
                append_body(assessment_passed()),
                append_body(assessment_passed()),
                append_body(assessment_passed(institution_id=IHM, code="HOSP-FUND")),
            ]
        }
        problem = await refused(
            ledger, ledger.post("/v1/events/batch", batch, Role.INSTITUTION, NSTI), 403, None
        )
        assert [(e["index"], e["status"], e["code"]) for e in problem["errors"]] == [
            (2, 403, "not_own_institution")
        ]


async def test_a_batch_may_issue_a_credential_for_a_pass_it_records(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        batch = {
            "events": [
                append_body(assessment_passed(assessment_id="A-1")),
                append_body(credential_issued(assessment_id="A-1")),
            ]
        }
        response = await ledger.post("/v1/events/batch", batch, Role.INSTITUTION, NSTI)
        assert response.status_code == 201, response.text
        results = response.json()
        assert [r["position"] for r in results] == [CATALOG_EVENTS + 1, CATALOG_EVENTS + 2]
        assert [r["stream"] for r in results] == [f"learner-{CNC_LEARNER}"] * 2
        assert (await head_of(ledger))["position"] == CATALOG_EVENTS + 2
