"""Reading the ledger: the log (paged and NDJSON), streams, single events, head, catalog, ops."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from credit_ledger.demo_catalog import INSTITUTIONS, MICRO_CREDENTIALS
from proto.envelope import Role
from tests.support.factories import (
    ATI,
    CNC_LEARNER,
    NSTI,
    assessment_passed,
    credential_issued,
)
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

CATALOG_EVENTS = 28
LEARNER_STREAM = f"learner-{CNC_LEARNER}"


async def appended(ledger: Ledger, event: dict[str, Any], institution_id: str) -> dict[str, Any]:
    response = await ledger.append(event, institution_id)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_the_log_is_read_page_by_page(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        first = (await ledger.get("/v1/log", after_position=0, limit=10)).json()
        assert [e["position"] for e in first["events"]] == list(range(1, 11))
        assert first["next_after_position"] == 10
        assert first["head_position"] == CATALOG_EVENTS

        rest = (
            await ledger.get("/v1/log", after_position=first["next_after_position"], limit=100)
        ).json()
        assert [e["position"] for e in rest["events"]] == list(range(11, CATALOG_EVENTS + 1))
        assert rest["next_after_position"] == CATALOG_EVENTS

        past_the_end = (await ledger.get("/v1/log", after_position=CATALOG_EVENTS)).json()
        assert past_the_end["events"] == []
        assert past_the_end["next_after_position"] == CATALOG_EVENTS


async def test_the_ndjson_log_is_one_event_per_line_in_position_order(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/log/ndjson")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = response.text.splitlines()
        assert [json.loads(line)["position"] for line in lines] == list(
            range(1, CATALOG_EVENTS + 1)
        )


async def test_the_ndjson_log_honours_its_bounds(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/log/ndjson", after_position=5, to_position=9)
        assert response.status_code == 200
        positions = [json.loads(line)["position"] for line in response.text.splitlines()]
        assert positions == [6, 7, 8, 9]


async def test_a_learner_stream_is_read_in_version_order(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await appended(ledger, assessment_passed(assessment_id="A-1"), NSTI)
        await appended(ledger, credential_issued(assessment_id="A-1"), NSTI)
        await appended(ledger, assessment_passed(assessment_id="A-2", code="CNC-PROG"), NSTI)

        page = (await ledger.get(f"/v1/streams/{LEARNER_STREAM}")).json()
        assert page["stream"] == LEARNER_STREAM
        assert [e["stream_version"] for e in page["events"]] == [1, 2, 3]
        assert [e["type"] for e in page["events"]] == [
            "AssessmentPassed",
            "CredentialIssued",
            "AssessmentPassed",
        ]
        assert page["next_after_version"] == 3


async def test_one_event_is_read_by_its_id(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        result = await appended(ledger, assessment_passed(assessment_id="A-1"), NSTI)
        response = await ledger.get(f"/v1/events/{result['event_id']}")
        assert response.status_code == 200
        event = response.json()
        assert event["position"] == result["position"]
        assert event["data"]["assessment_id"] == "A-1"


async def test_an_unknown_event_id_is_not_found(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get(f"/v1/events/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_found"


async def test_an_institution_sees_only_its_own_events_on_a_learner_stream(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        own = await appended(ledger, assessment_passed(), NSTI)
        await appended(ledger, assessment_passed(institution_id=ATI), ATI)

        page = (await ledger.get(f"/v1/streams/{LEARNER_STREAM}", Role.INSTITUTION, NSTI)).json()
        assert [e["event_id"] for e in page["events"]] == [own["event_id"]]


async def test_an_institution_cannot_read_another_institutions_event(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        theirs = await appended(ledger, assessment_passed(institution_id=ATI), ATI)
        response = await ledger.get(f"/v1/events/{theirs['event_id']}", Role.INSTITUTION, NSTI)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_institution_may_not_read_the_global_log(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/log", Role.INSTITUTION, NSTI)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "forbidden"


async def test_an_auditor_reads_the_global_log(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/log", Role.AUDITOR)
        assert response.status_code == 200
        assert response.json()["head_position"] == CATALOG_EVENTS


async def test_the_head_is_the_last_events_position_and_hash(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        result = await appended(ledger, assessment_passed(), NSTI)
        last = (await ledger.get("/v1/log", after_position=CATALOG_EVENTS)).json()["events"][-1]
        head = (await ledger.get("/v1/head", Role.INSTITUTION, NSTI)).json()
        assert head == {"position": last["position"], "hash": last["hash"]}
        assert head == {"position": result["position"], "hash": result["hash"]}


async def test_the_institutions_of_the_demo_catalog_are_listed(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/institutions", Role.INSTITUTION, NSTI)
        assert response.status_code == 200
        listed = {i["institution_id"]: i for i in response.json()}
        assert set(listed) == {i.institution_id for i in INSTITUTIONS}
        assert listed["THSC-RPL"]["accredited_sectors"] == ["TOURISM-HOSPITALITY"]
        assert listed["THSC-RPL"]["max_level"] == "4"


async def test_the_micro_credentials_of_the_demo_catalog_are_listed(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.get("/v1/catalog/micro-credentials", Role.AUDITOR)
        assert response.status_code == 200
        listed = {m["code"]: m for m in response.json()}
        assert set(listed) == {m.code for m in MICRO_CREDENTIALS}
        assert listed["CNC-ADV"]["level"] == "4.5"
        assert listed["CNC-ADV"]["notional_hours"] == 90


async def test_health_answers_without_a_key(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.client.get("/health")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


async def test_ready_reports_the_database(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.client.get("/ready")
        assert response.status_code == 200
        assert response.json()["database"] is True


async def test_metrics_count_appends(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.client.get("/metrics")
        assert response.status_code == 200
        assert "ledger_appends_total" in response.text


async def test_the_openapi_document_describes_appending(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.client.get("/schema/openapi.json")
        assert response.status_code == 200
        assert "/v1/events" in response.json()["paths"]
