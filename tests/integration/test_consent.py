"""Consent the learner controls, on real servers: a grant lets an institution (an employer
among them) read the learner's whole bank, history included; a withdrawal takes it back;
only the learner records either, and every bad grant or withdrawal is refused with nothing
written. An employer reads what it is granted and records nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from proto.envelope import Role
from tests.support.factories import (
    ATI,
    NSTI,
    append_body,
    assessment_passed,
    institution_registered,
)
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import Projector, record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

LEARNER, OTHER_LEARNER = "940000000001", "940000000002"
EMPLOYER = "ACME-EMPLOYER"


@pytest.fixture
async def ledger(database_url: str, nats: NatsHandle) -> AsyncIterator[Ledger]:
    async with served_ledger(
        database_url, nats.url, CREDIT_LEDGER_API_KEY_CACHE_TTL_S="0"
    ) as served:
        employer = institution_registered(
            institution_id=EMPLOYER, sectors=[], max_level="1", name="Acme Tools", kind="employer"
        )
        assert (await served.post("/v1/events", append_body(employer))).status_code == 201
        await record_pass(served, LEARNER, NSTI, "CNC-FUND", "2026-01-15")
        await record_pass(served, LEARNER, ATI, "CNC-PROG", "2026-02-15")
        await record_pass(served, OTHER_LEARNER, ATI, "CNC-FUND", "2026-01-15")
        yield served


@pytest.fixture
async def projector(
    ledger: Ledger, database_url: str, nats: NatsHandle
) -> AsyncIterator[Projector]:
    async with running_projector(ledger, database_url, nats.url) as running:
        await running.caught_up()
        yield running


def _grant(grantee: str, learner: str = LEARNER, **fields: Any) -> dict[str, Any]:
    return {
        "type": "ConsentGranted",
        "grant_id": str(uuid.uuid4()),
        "learner_id": learner,
        "grantee_institution_id": grantee,
        **fields,
    }


def _withdrawal(grant: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "ConsentWithdrawn",
        "grant_id": grant["grant_id"],
        "learner_id": grant["learner_id"],
    }


async def _as_learner(ledger: Ledger, event: dict[str, Any], **extra: Any) -> httpx.Response:
    return await ledger.client.post(
        "/v1/events",
        json=append_body(event, **extra),
        headers=await ledger.learner_headers(LEARNER, NSTI),
    )


async def _bank(projector: Projector, ledger: Ledger, institution: str) -> httpx.Response:
    return await projector.client.get(
        f"/v1/learners/{LEARNER}/credit-bank",
        headers=await ledger.headers(Role.INSTITUTION, institution),
    )


def _codes(bank: httpx.Response) -> list[str]:
    return sorted(p["micro_credential_code"] for p in bank.json()["credit_bank"]["valid"])


async def test_a_grant_opens_the_whole_bank_and_a_withdrawal_closes_it(
    ledger: Ledger, projector: Projector
) -> None:
    before = await _bank(projector, ledger, ATI)
    assert before.json()["recorded_by"] == ATI
    assert _codes(before) == ["CNC-PROG"]

    grant = _grant(ATI, valid_until=(dt.date.today() + dt.timedelta(days=30)).isoformat())
    recorded = await _as_learner(ledger, grant)
    assert recorded.status_code == 201, recorded.text
    await projector.caught_up()
    granted = await _bank(projector, ledger, ATI)
    assert granted.json()["recorded_by"] is None
    assert _codes(granted) == ["CNC-FUND", "CNC-PROG"]
    # The history too: as of the first pass, which NSTI recorded.
    first = (await ledger.get(f"/v1/streams/learner-{LEARNER}", Role.AUDITOR)).json()["events"][0]
    as_of = await projector.client.get(
        f"/v1/learners/{LEARNER}/credit-bank",
        params={"as_of_position": first["position"]},
        headers=await ledger.headers(Role.INSTITUTION, ATI),
    )
    assert _codes(as_of) == ["CNC-FUND"]
    # Another learner's bank is not opened by this learner's grant.
    theirs = await projector.client.get(
        f"/v1/learners/{OTHER_LEARNER}/credit-bank",
        headers=await ledger.headers(Role.INSTITUTION, NSTI),
    )
    assert theirs.status_code == 404

    assert (await _as_learner(ledger, _withdrawal(grant))).status_code == 201
    await projector.caught_up()
    after = await _bank(projector, ledger, ATI)
    assert after.json()["recorded_by"] == ATI
    assert _codes(after) == ["CNC-PROG"]


async def test_an_employer_reads_what_it_is_granted_and_records_nothing(
    ledger: Ledger, projector: Projector
) -> None:
    assert (await _bank(projector, ledger, EMPLOYER)).status_code == 404
    assert (await _as_learner(ledger, _grant(EMPLOYER))).status_code == 201
    await projector.caught_up()
    granted = await _bank(projector, ledger, EMPLOYER)
    assert granted.status_code == 200
    assert _codes(granted) == ["CNC-FUND", "CNC-PROG"]
    attempt = await ledger.append(
        assessment_passed(learner_id=LEARNER, institution_id=EMPLOYER, code="CNC-QC"), EMPLOYER
    )
    assert attempt.status_code == 403
    assert attempt.json()["code"] == "employer_cannot_record"


async def test_bad_grants_and_withdrawals_are_refused_and_change_nothing(ledger: Ledger) -> None:
    head = await _head(ledger)
    for event, status, code in [
        (_grant(ATI, learner=OTHER_LEARNER), 403, "not_own_learner"),
        (_grant("NO-SUCH-PLACE"), 422, "institution_unknown"),
        (_grant(ATI, valid_until="2020-01-01"), 422, "grant_already_ended"),
        (_withdrawal(_grant(ATI)), 422, "unknown_grant"),
        (_grant(ATI, grant_id="not-a-uuid"), 422, "invalid_body"),
        (_grant(ATI, scope="everything"), 422, "invalid_body"),
        (_grant(ATI, note="an unknown field"), 422, "invalid_body"),
    ]:
        answer = await _as_learner(ledger, event)
        assert (answer.status_code, answer.json()["code"]) == (status, code), event
    assert await _head(ledger) == head

    grant = _grant(ATI)
    by_institution = await ledger.append(grant, NSTI)
    assert by_institution.status_code == 403
    assert by_institution.json()["code"] == "role_not_allowed"
    assert (await ledger.post("/v1/events", append_body(grant))).status_code == 403  # admin
    assert await _head(ledger) == head

    event_id = str(uuid.uuid4())
    assert (await _as_learner(ledger, grant, event_id=event_id)).status_code == 201
    again = await _as_learner(ledger, grant, event_id=event_id)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    reused = await _as_learner(ledger, grant)  # the same grant under a new event id
    assert (reused.status_code, reused.json()["code"]) == (409, "grant_id_conflict")
    assert (await _as_learner(ledger, _withdrawal(grant))).status_code == 201
    twice = await _as_learner(ledger, _withdrawal(grant))
    assert (twice.status_code, twice.json()["code"]) == (409, "already_withdrawn")
    # A learner's link records consent and nothing else.
    not_consent = await _as_learner(
        ledger, assessment_passed(learner_id=LEARNER, institution_id=NSTI, code="CNC-QC")
    )
    assert not_consent.status_code == 403


async def _head(ledger: Ledger) -> int:
    position: int = (await ledger.get("/v1/head", Role.AUDITOR)).json()["position"]
    return position
