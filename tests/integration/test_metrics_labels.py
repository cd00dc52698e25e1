"""``ledger_appends_total`` counts the innocent items of a refused atomic batch as
``batch_aborted``, not as refusals: only the item at fault is ``refused_<status>``."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from proto.envelope import Role
from tests.support.factories import NSTI, append_body, assessment_passed
from tests.support.ledger import Ledger, served_ledger

pytestmark = pytest.mark.integration


async def appends_total(ledger: Ledger) -> dict[tuple[str, str], float]:
    """(type, outcome) -> count, as the running ledger's /metrics says."""
    response = await ledger.client.get("/metrics")
    assert response.status_code == 200
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != "ledger_appends":
            continue
        for sample in family.samples:
            if sample.name == "ledger_appends_total":
                counts[(sample.labels["type"], sample.labels["outcome"])] = sample.value
    return counts


def _delta(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


async def _refused_batch(ledger: Ledger, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = await ledger.post(
        "/v1/events/batch", {"events": [append_body(e) for e in events]}, Role.INSTITUTION, NSTI
    )
    assert response.status_code in (409, 422), response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "batch_refused"
    return problem


async def test_innocent_items_of_a_refused_batch_are_counted_as_batch_aborted(
    database_url: str,
) -> None:
    async with served_ledger(database_url) as ledger:
        before = await appends_total(ledger)
        # Refused when decided against the write model (an unknown micro-credential).
        problem = await _refused_batch(
            ledger,
            [assessment_passed(), assessment_passed(code="NO-SUCH-CODE"), assessment_passed()],
        )
        assert [item["index"] for item in problem["errors"]] == [1]
        after = await appends_total(ledger)
        refused = f"refused_{problem['errors'][0]['status']}"
        assert _delta(before, after) == {
            ("AssessmentPassed", "batch_aborted"): 2.0,
            ("AssessmentPassed", refused): 1.0,
        }
        assert after.get(("AssessmentPassed", "refused_409"), 0.0) == 0.0

        # Refused before it reaches the write model (a malformed learner id).
        before = after
        problem = await _refused_batch(
            ledger, [assessment_passed(learner_id="not-a-learner"), assessment_passed()]
        )
        refused = f"refused_{problem['errors'][0]['status']}"
        assert _delta(before, await appends_total(ledger)) == {
            ("AssessmentPassed", "batch_aborted"): 1.0,
            ("AssessmentPassed", refused): 1.0,
        }

        # An accepted batch is counted as appended, item by item.
        before = await appends_total(ledger)
        response = await ledger.post(
            "/v1/events/batch",
            {"events": [append_body(assessment_passed()), append_body(assessment_passed())]},
            Role.INSTITUTION,
            NSTI,
        )
        assert response.status_code == 201, response.text
        assert _delta(before, await appends_total(ledger)) == {
            ("AssessmentPassed", "appended"): 2.0
        }
