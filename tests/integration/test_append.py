"""Appending events over HTTP: results, idempotency, optimistic concurrency, snapshots."""

from __future__ import annotations

import pytest

from proto.envelope import Role
from tests.support.factories import NSTI, append_body, assessment_passed, credential_issued, new_id
from tests.support.ledger import running_ledger

pytestmark = pytest.mark.integration


async def test_a_pass_is_recorded_with_the_catalog_as_it_stood(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.append(assessment_passed(), NSTI)
        assert response.status_code == 201, response.text
        result = response.json()
        assert result["stream"] == "learner-123456789012"
        assert result["stream_version"] == 1
        recorded = (await ledger.get(f"/v1/events/{result['event_id']}")).json()
        assert recorded["data"]["catalog_snapshot"] == {
            "version": 1,
            "level": "4",
            "notional_hours": 60,
            "sector": "CAPITAL-GOODS",
            "validity_years": 7,
        }
        assert recorded["metadata"]["actor"]["institution_id"] == NSTI
        assert recorded["hash"] == result["hash"]


async def test_a_retry_with_the_same_event_id_returns_the_original_result(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        body = append_body(assessment_passed())
        first = await ledger.post("/v1/events", body, Role.INSTITUTION, NSTI)
        again = await ledger.post("/v1/events", body, Role.INSTITUTION, NSTI)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json()["position"] == first.json()["position"]
        assert again.json()["hash"] == first.json()["hash"]
        assert again.json()["duplicate"] is True


async def test_the_same_event_id_with_other_content_is_a_conflict(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        event_id = new_id()
        first = await ledger.append(assessment_passed(), NSTI, event_id=event_id)
        other = await ledger.append(assessment_passed(code="CNC-PROG"), NSTI, event_id=event_id)
        assert first.status_code == 201
        assert other.status_code == 409
        assert other.json()["code"] == "event_id_conflict"
        assert other.headers["content-type"].startswith("application/problem+json")


async def test_expected_version_guards_the_stream(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        assert (
            await ledger.append(assessment_passed(), NSTI, expected_version=0)
        ).status_code == 201
        stale = await ledger.append(assessment_passed(), NSTI, expected_version=0)
        assert stale.status_code == 409
        assert stale.json()["code"] == "wrong_expected_version"
        assert (
            await ledger.append(assessment_passed(), NSTI, expected_version=1)
        ).status_code == 201
        head = (await ledger.get("/v1/head")).json()
        assert head["position"] == 28 + 2


async def test_a_credential_is_issued_for_an_existing_pass(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        passed = assessment_passed(assessment_id="A-1")
        assert (await ledger.append(passed, NSTI)).status_code == 201
        issued = await ledger.append(credential_issued(assessment_id="A-1"), NSTI)
        assert issued.status_code == 201, issued.text
