"""Accreditation per sector and over time, as the ledger judges passes at the append.

A hotel school teaches hospitality to level 4 and bakery to 3.5; bakery is withdrawn in
June. Passes are judged by the accreditation in force on their assessment date, as the log
knows it when they are appended; the auditor's replay agrees before and after.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from domain.accreditation import scope_of
from domain.units import halves_to_level
from proto.envelope import RecordedEvent, Role
from services.common.ledger_client import LedgerClient
from services.ledger.audit.replay import replay_learner
from tests.integration.test_bad_input import recorded, refused
from tests.support.factories import (
    append_body,
    assessment_passed,
    institution_registered,
    micro_credential_defined,
)
from tests.support.ledger import Ledger, served_ledger

pytestmark = pytest.mark.integration

SCHOOL = "HOTEL-SCHOOL-GOA"
HOSPITALITY = "TOURISM-HOSPITALITY"
BAKERY = "FOOD-PROCESSING"
LEARNER = "520000000001"
WITHDRAWN_ON = "2026-06-01"

MICRO_CREDENTIALS = [
    ("HOSP-FRONT", HOSPITALITY, "4"),
    ("HOSP-MGMT", HOSPITALITY, "4.5"),
    ("BAKE-BREAD", BAKERY, "3.5"),
    ("BAKE-PATISSERIE", BAKERY, "4"),
]


def scope(*entries: tuple[str, str]) -> list[dict[str, str]]:
    return [{"sector": s, "max_level": level} for s, level in entries]


async def admin(ledger: Ledger, event: dict[str, Any]) -> None:
    await recorded(ledger, ledger.post("/v1/events", append_body(event)))


async def open_school(ledger: Ledger) -> None:
    for code, sector, level in MICRO_CREDENTIALS:
        await admin(ledger, micro_credential_defined(code=code, sector=sector, level=level))
    await admin(ledger, institution_registered(institution_id=SCHOOL, sectors=[], max_level="1"))
    await admin(
        ledger,
        {
            "type": "AccreditationGranted",
            "institution_id": SCHOOL,
            "scope": scope((HOSPITALITY, "4"), (BAKERY, "3.5")),
            "effective_from": "2026-01-01",
            "note": "NCVET recognition order 2026/12",
        },
    )


def a_pass(code: str, assessed_on: str) -> dict[str, Any]:
    return assessment_passed(
        learner_id=LEARNER, institution_id=SCHOOL, code=code, assessed_on=assessed_on
    )


async def test_each_sector_is_judged_against_its_own_highest_level(database_url: str) -> None:
    async with served_ledger(database_url) as ledger:
        await open_school(ledger)
        await recorded(ledger, ledger.append(a_pass("HOSP-FRONT", "2026-03-01"), SCHOOL))
        await recorded(ledger, ledger.append(a_pass("BAKE-BREAD", "2026-03-01"), SCHOOL))
        for code in ("HOSP-MGMT", "BAKE-PATISSERIE"):
            problem = await refused(
                ledger,
                ledger.append(a_pass(code, "2026-03-01"), SCHOOL),
                403,
                "outside_accreditation",
            )
            assert "up to NSQF level" in problem["detail"]
        before_grant = ledger.append(a_pass("HOSP-FRONT", "2025-12-31"), SCHOOL)
        await refused(ledger, before_grant, 403, "outside_accreditation")


async def test_a_withdrawal_refuses_later_assessments_but_not_late_uploads_of_earlier_ones(
    database_url: str,
) -> None:
    async with served_ledger(database_url) as ledger:
        await open_school(ledger)
        await recorded(ledger, ledger.append(a_pass("BAKE-BREAD", "2026-05-01"), SCHOOL))
        before_withdrawal = (await ledger.get("/v1/head")).json()["position"]
        withdrawal = {
            "type": "AccreditationWithdrawn",
            "institution_id": SCHOOL,
            "sectors": [BAKERY],
            "effective_from": WITHDRAWN_ON,
            "reason": "inspection found no qualified assessors",
        }
        await admin(ledger, withdrawal)

        after = ledger.append(a_pass("BAKE-PATISSERIE", "2026-07-01"), SCHOOL)
        await refused(ledger, after, 403, "outside_accreditation")
        on_the_day = ledger.append(a_pass("BAKE-BREAD", WITHDRAWN_ON), SCHOOL)
        await refused(ledger, on_the_day, 403, "outside_accreditation")
        # Assessed in May, uploaded after the withdrawal: the scope of May applies.
        late = a_pass("BAKE-BREAD", "2026-05-20")
        await recorded(ledger, ledger.append(late, SCHOOL))
        # Hospitality was not withdrawn.
        await recorded(ledger, ledger.append(a_pass("HOSP-FRONT", "2026-07-01"), SCHOOL))
        head = (await ledger.get("/v1/head")).json()["position"]

        reader = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
        try:
            early = await replay_learner(reader, LEARNER, before_withdrawal)
            now = await replay_learner(reader, LEARNER, head)
            again = await replay_learner(reader, LEARNER, head)
        finally:
            await reader.close()
        assert early is not None
        assert now is not None
        assert [p.assessed_on.isoformat() for p in early.credit_bank.valid] == ["2026-05-01"]
        assert sorted(
            (p.micro_credential_code, p.assessed_on.isoformat()) for p in now.credit_bank.valid
        ) == [
            ("BAKE-BREAD", "2026-05-20"),  # the late upload: the latest pass of its code
            ("HOSP-FRONT", "2026-07-01"),
        ]
        assert again == now


async def test_an_extension_widens_and_the_published_scope_is_the_fold_of_the_log(
    database_url: str,
) -> None:
    async with served_ledger(database_url) as ledger:
        await open_school(ledger)
        raise_level = {
            "type": "AccreditationExtended",
            "institution_id": SCHOOL,
            "scope": scope((HOSPITALITY, "4.5")),
            "effective_from": "2026-09-01",
        }
        await admin(ledger, raise_level)
        early = ledger.append(a_pass("HOSP-MGMT", "2026-08-31"), SCHOOL)
        await refused(ledger, early, 403, "outside_accreditation")
        await recorded(ledger, ledger.append(a_pass("HOSP-MGMT", "2026-09-01"), SCHOOL))
        narrowing = raise_level | {
            "scope": scope((HOSPITALITY, "3")),
            "effective_from": "2026-10-01",
        }
        await refused(
            ledger,
            ledger.post("/v1/events", append_body(narrowing)),
            422,
            "accreditation_conflict",
        )
        by_institution = ledger.post(
            "/v1/events", append_body(raise_level), Role.INSTITUTION, SCHOOL
        )
        await refused(ledger, by_institution, 403, "role_not_allowed")

        published = (await ledger.get(f"/v1/institutions/{SCHOOL}")).json()["accreditation"]
        rows = msgspec.json.decode(
            msgspec.json.encode(
                (await ledger.get(f"/v1/streams/institution-{SCHOOL}")).json()["events"]
            ),
            type=list[RecordedEvent],
        )
        folded = scope_of([r.data for r in rows])
        assert published == [
            {
                "sector": p.sector,
                "max_level": halves_to_level(p.max_level_halves),
                "valid_from": None if p.valid_from is None else p.valid_from.isoformat(),
                "valid_until": None if p.valid_until is None else p.valid_until.isoformat(),
            }
            for p in folded
        ]
        assert {
            "sector": HOSPITALITY,
            "max_level": "4.5",
            "valid_from": "2026-09-01",
            "valid_until": None,
        } in published


async def test_accreditation_of_an_unregistered_institution_is_refused(database_url: str) -> None:
    async with served_ledger(database_url) as ledger:
        grant = {
            "type": "AccreditationGranted",
            "institution_id": "NOWHERE",
            "scope": scope((BAKERY, "3")),
            "effective_from": "2026-01-01",
        }
        await refused(
            ledger, ledger.post("/v1/events", append_body(grant)), 422, "institution_unknown"
        )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"scope": scope((BAKERY, "9"))}, 422, None),  # no NSQF level 9
        ({"scope": []}, 422, None),  # a grant of nothing
        ({"effective_from": "2026-13-01"}, 422, None),  # not a date
        ({"effective_until": "2025-01-01"}, 422, "accreditation_conflict"),  # ends before it starts
        ({"scope": scope((BAKERY, "3"), (BAKERY, "4"))}, 422, "accreditation_conflict"),
        ({"accredited_for_ever": True}, 422, None),  # unknown field
    ],
)
async def test_a_malformed_or_out_of_range_grant_changes_nothing(
    database_url: str, change: dict[str, Any], status: int, code: str | None
) -> None:
    async with served_ledger(database_url) as ledger:
        await admin(
            ledger, institution_registered(institution_id=SCHOOL, sectors=[], max_level="1")
        )
        grant = {
            "type": "AccreditationGranted",
            "institution_id": SCHOOL,
            "scope": scope((BAKERY, "3.5")),
            "effective_from": "2026-01-01",
        } | change
        await refused(ledger, ledger.post("/v1/events", append_body(grant)), status, code)


async def test_a_grant_is_idempotent_by_event_id_and_a_second_grant_is_a_conflict(
    database_url: str,
) -> None:
    async with served_ledger(database_url) as ledger:
        await open_school(ledger)
        grant = {
            "type": "AccreditationGranted",
            "institution_id": SCHOOL,
            "scope": scope((BAKERY, "4")),
            "effective_from": "2026-02-01",
        }
        body = append_body(grant)
        await refused(ledger, ledger.post("/v1/events", body), 422, "accreditation_conflict")
        withdrawal = append_body(
            {
                "type": "AccreditationWithdrawn",
                "institution_id": SCHOOL,
                "effective_from": "2026-06-01",
                "reason": "closed",
            }
        )
        first = await ledger.post("/v1/events", withdrawal)
        assert first.status_code == 201, first.text
        again = await ledger.post("/v1/events", withdrawal)
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True
