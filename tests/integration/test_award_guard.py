"""The ledger guards awards: only what the learner's history earns is appended, once.

Each refusal leaves the log head where it was. The genuine award is computed here the way
the issuer computes it (the shared core over the learner's stream as the ledger serves it),
so a test that forges one field proves the ledger re-derives that field itself.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from domain.award_check import NoAward
from domain.awards import award_id
from proto import events as ev
from proto.envelope import Role
from tests.integration.test_bad_input import head_of, recorded, refused
from tests.support.awards import bank_of, stream
from tests.support.awards import genuine_award as support_award
from tests.support.factories import NSTI, append_body, assessment_passed, new_id
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

CERTIFICATE = "ADV-CNC-MACHINING"
MODULES = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
EARNER = "310000000001"
NOBODY = "310000000002"


async def genuine_award(ledger: Ledger, learner: str) -> tuple[dict[str, Any], int]:
    found = await support_award(ledger, learner, CERTIFICATE)
    assert not isinstance(found, NoAward), found
    return found


def award(ledger: Ledger, body: dict[str, Any], expected_version: int | None, **extra: Any) -> Any:
    payload = append_body(body, **extra)
    if expected_version is not None:
        payload["expected_version"] = expected_version
    return ledger.post("/v1/events", payload, Role.ISSUER)


async def earn_certificate(ledger: Ledger, learner: str = EARNER) -> dict[str, str]:
    ids = {}
    for code in MODULES:
        event = assessment_passed(learner_id=learner, code=code, assessed_on="2026-03-01")
        await recorded(ledger, ledger.append(event, NSTI))
        ids[code] = event["assessment_id"]
    return ids


def revocation(
    body: dict[str, Any], reason_code: str | None, note: str = "", **fields: Any
) -> dict[str, Any]:
    event = {
        "type": "QualificationRevoked",
        "award_id": body["award_id"],
        "learner_id": body["learner_id"],
        "qualification_code": body["qualification_code"],
        "reason": "see note" if note else "the rule no longer holds",
        "note": note,
        **fields,
    }
    if reason_code is not None:
        event["reason_code"] = reason_code
    return event


async def test_a_forged_award_for_a_learner_who_holds_nothing_is_refused(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        forged = {
            "type": "QualificationAwarded",
            "award_id": new_id(),
            "learner_id": NOBODY,
            "qualification_code": CERTIFICATE,
            "qualification_version": 1,
            "award_generation": 0,
            "components": [],
            "counted_hours": 0,
            "credit_points": "0",
            "decided_at_position": 0,
        }
        await refused(ledger, award(ledger, forged, 0), 422, "award_not_satisfied")


async def test_an_award_short_of_the_rule_is_refused_with_the_explanation(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        ids = await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        revoke = {
            "type": "AssessmentRevoked",
            "assessment_id": ids["CNC-QC"],
            "learner_id": EARNER,
            "institution_id": NSTI,
            "reason": "malpractice",
        }
        await recorded(ledger, ledger.append(revoke, NSTI))
        _, version = await bank_of(ledger, EARNER)
        body["decided_at_position"] = (await head_of(ledger))["position"]
        problem = await refused(ledger, award(ledger, body, version), 422, "award_not_satisfied")
        assert "missing required: CNC-QC" in problem["detail"]


async def test_a_wrong_component_list_is_refused(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        body["components"] = body["components"][:-1]
        await refused(ledger, award(ledger, body, version), 422, "award_components_mismatch")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("counted_hours", 999, "award_counted_hours_mismatch"),
        ("credit_points", "1000", "award_credit_points_mismatch"),
        ("required_qualifications", ["CNC-OPERATOR"], "award_required_qualifications_mismatch"),
        ("award_id", "00000000-0000-5000-8000-000000000000", "award_id_not_deterministic"),
        ("award_generation", 3, "wrong_award_generation"),
        ("decided_at_position", 1, "wrong_decided_at_position"),
        ("qualification_version", 7, "unknown_qualification_version"),
    ],
)
async def test_a_field_the_core_computes_differently_is_refused(
    database_url: str, field: str, value: Any, code: str
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        body[field] = value
        await refused(ledger, award(ledger, body, version), 422, code)


async def test_an_award_without_the_stream_version_it_was_decided_on_is_refused(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, _ = await genuine_award(ledger, EARNER)
        await refused(ledger, award(ledger, body, None), 422, "expected_version_required")


async def test_an_award_decided_before_the_stream_moved_is_a_conflict(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        extra = assessment_passed(learner_id=EARNER, code="CNC-FUND", assessed_on="2026-04-01")
        await recorded(ledger, ledger.append(extra, NSTI))
        await refused(ledger, award(ledger, body, version), 409, "wrong_expected_version")


async def test_an_award_under_a_superseded_rule_version_is_a_conflict(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        rows = await stream(ledger, f"qualification-{CERTIFICATE}")
        v2 = msgspec.to_builtins(rows[-1].data) | {"version": 2, "min_credits": 11}
        await recorded(ledger, ledger.post("/v1/events", append_body(v2)))
        await refused(ledger, award(ledger, body, version), 409, "rule_version_superseded")
        # Decided again, under v2, it is accepted.
        again, version = await genuine_award(ledger, EARNER)
        assert again["qualification_version"] == 2
        response = await award(ledger, again, version, event_id=again["award_id"])
        assert response.status_code == 201, response.text


async def test_a_second_award_for_the_same_generation_is_refused_whatever_its_id(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        first = await award(ledger, body, version, event_id=body["award_id"])
        assert first.status_code == 201, first.text
        # The same request again is the idempotent answer, not a second award.
        repeat = await award(ledger, body, version, event_id=body["award_id"])
        assert repeat.status_code == 200, repeat.text
        assert repeat.json()["position"] == first.json()["position"]
        second = body | {"award_id": new_id(), "decided_at_position": first.json()["position"]}
        await refused(ledger, award(ledger, second, version + 1), 409, "duplicate_award")
        deterministic = body | {"decided_at_position": first.json()["position"]}
        await refused(ledger, award(ledger, deterministic, version + 1), 409, "duplicate_award")


async def test_an_admin_only_revocation_reason_from_an_issuer_key_is_refused(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        await recorded(ledger, award(ledger, body, version, event_id=body["award_id"]))
        for reason_code in ("fraud", "issued_in_error"):
            event = revocation(body, reason_code, note="forged attendance sheet")
            request = ledger.post("/v1/events", append_body(event), Role.ISSUER)
            await refused(ledger, request, 403, "role_not_allowed")
        no_code = ledger.post("/v1/events", append_body(revocation(body, None)), Role.ISSUER)
        await refused(ledger, no_code, 422, "reason_code_required")
        by_admin = ledger.post(
            "/v1/events", append_body(revocation(body, "rule_no_longer_holds")), Role.ADMIN
        )
        await refused(ledger, by_admin, 403, "role_not_allowed")


async def test_a_rule_no_longer_holds_revocation_of_an_award_that_holds_is_refused(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        await recorded(ledger, award(ledger, body, version, event_id=body["award_id"]))
        event = revocation(body, "rule_no_longer_holds")
        request = ledger.post("/v1/events", append_body(event), Role.ISSUER)
        await refused(ledger, request, 422, "award_still_holds")


async def test_a_fraud_revocation_blocks_re_award_until_an_admin_lifts_it(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        await earn_certificate(ledger)
        body, version = await genuine_award(ledger, EARNER)
        await recorded(ledger, award(ledger, body, version, event_id=body["award_id"]))
        no_note = ledger.post("/v1/events", append_body(revocation(body, "fraud")), Role.ADMIN)
        await refused(ledger, no_note, 422, "note_required")
        fraud = revocation(body, "fraud", note="attendance sheet forged; NCVET case 2026/41")
        await recorded(ledger, ledger.post("/v1/events", append_body(fraud), Role.ADMIN))
        stored = (await stream(ledger, f"learner-{EARNER}"))[-1].data
        assert isinstance(stored, ev.QualificationRevoked)
        assert stored.note == "attendance sheet forged; NCVET case 2026/41"

        # The rule still holds on the passes, but the core says no award follows.
        bank, version = await bank_of(ledger, EARNER)
        next_award = body | {
            "award_generation": 1,
            "decided_at_position": bank.position,
            "award_id": award_id(EARNER, CERTIFICATE, 1, 1),
        }
        await refused(ledger, award(ledger, next_award, version), 422, "award_blocked")

        lift = {
            "type": "AwardBlockLifted",
            "learner_id": EARNER,
            "qualification_code": CERTIFICATE,
            "note": "cleared on appeal",
        }
        as_issuer = ledger.post("/v1/events", append_body(lift), Role.ISSUER)
        await refused(ledger, as_issuer, 403, "role_not_allowed")
        await recorded(ledger, ledger.post("/v1/events", append_body(lift), Role.ADMIN))
        again = ledger.post("/v1/events", append_body(lift), Role.ADMIN)
        await refused(ledger, again, 422, "no_award_block")

        renewed, version = await genuine_award(ledger, EARNER)
        assert renewed["award_generation"] == 1
        response = await award(ledger, renewed, version, event_id=renewed["award_id"])
        assert response.status_code == 201, response.text
