"""Answers as of a log position or a time equal what the live API said at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.factories import ATI, NSTI, assessment_revoked, credits_redeemed
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import Projector, record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

MACHINIST = "900000000001"
NEIGHBOUR = "900000000002"
RULE = "ADV-CNC-MACHINING"


@dataclass(frozen=True)
class Moment:
    """What the live API answered right after the event at ``position`` was applied."""

    position: int
    event_id: str
    bank: dict[str, Any]
    progress: dict[str, Any]


def appended(response: httpx.Response) -> int:
    if response.status_code != 201:
        raise AssertionError(f"not appended: {response.status_code} {response.text}")
    return int(response.json()["position"])


async def live_moment(ledger: Ledger, projector: Projector, position: int) -> Moment:
    assert await projector.caught_up() == position
    page = (await ledger.get("/v1/log", after_position=position - 1, limit=1)).json()
    bank = await projector.bank(MACHINIST)
    assert bank["as_of_position"] == position
    progress = await projector.progress(MACHINIST, RULE)
    return Moment(position, str(page["events"][0]["event_id"]), bank, progress)


async def live_moments(ledger: Ledger, projector: Projector) -> list[Moment]:
    """A history that changes the machinist's bank and progress in every way (an expired
    pass, another learner's event in between, eligibility, a renewed pass, a revocation, a
    redemption), with what the live API answered after each event."""
    moments = []
    assessments: dict[str, str] = {}
    for learner, institution, code, day in [
        (MACHINIST, NSTI, "CNC-FUND", "2019-02-01"),
        (NEIGHBOUR, NSTI, "CNC-FUND", "2026-02-01"),
        (MACHINIST, NSTI, "CNC-PROG", "2026-03-20"),
        (MACHINIST, ATI, "CNC-ADV", "2026-05-10"),
        (MACHINIST, ATI, "CNC-MAINT", "2026-07-05"),
        (MACHINIST, ATI, "CNC-QC", "2026-09-01"),
        (MACHINIST, NSTI, "CNC-FUND", "2026-10-01"),
    ]:
        assessment_id, position = await record_pass(ledger, learner, institution, code, day)
        if learner == MACHINIST:
            assessments[code] = assessment_id
        moments.append(await live_moment(ledger, projector, position))

    revoked = assessment_revoked(
        assessment_id=assessments["CNC-QC"], learner_id=MACHINIST, institution_id=ATI
    )
    position = appended(await ledger.append(revoked, ATI))
    moments.append(await live_moment(ledger, projector, position))

    redeemed = credits_redeemed(
        passes=[(NSTI, assessments["CNC-PROG"])], learner_id=MACHINIST, institution_id=ATI
    )
    position = appended(await ledger.append(redeemed, ATI))
    moments.append(await live_moment(ledger, projector, position))
    return moments


def the_answer(bank: dict[str, Any]) -> dict[str, Any]:
    return {"credit_bank": bank["credit_bank"], "progress": bank["progress"]}


async def test_answers_as_of_a_position_equal_the_live_answers_at_that_position(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        moments = await live_moments(ledger, projector)
        assert len({m.progress["satisfied"] for m in moments}) == 2  # it did change

        for moment in moments:
            bank = await projector.bank(MACHINIST, as_of_position=moment.position)
            assert bank["as_of_position"] == moment.position
            assert the_answer(bank) == the_answer(moment.bank)
            progress = await projector.progress(MACHINIST, RULE, as_of_position=moment.position)
            assert progress == moment.progress


async def test_answers_as_of_the_time_an_event_was_recorded_equal_the_live_answers_then(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        moments = await live_moments(ledger, projector)

        for moment in moments:
            recorded_at = (await ledger.get(f"/v1/events/{moment.event_id}")).json()["recorded_at"]
            bank = await projector.bank(MACHINIST, as_of_time=recorded_at)
            assert bank["as_of_position"] == moment.position
            assert the_answer(bank) == the_answer(moment.bank)
            progress = await projector.progress(MACHINIST, RULE, as_of_time=recorded_at)
            assert progress == moment.progress


async def test_asking_as_of_both_a_position_and_a_time_is_a_problem(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        _, position = await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
        await projector.caught_up()
        for path in (
            f"/v1/learners/{MACHINIST}/credit-bank",
            f"/v1/learners/{MACHINIST}/progress/{RULE}",
        ):
            response = await projector.get(
                path, as_of_position=position, as_of_time="2026-11-01T00:00:00Z"
            )
            assert 400 <= response.status_code < 500
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "not both" in response.json()["detail"]


async def test_a_time_without_a_zone_is_a_problem(database_url: str, nats: NatsHandle) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
        await projector.caught_up()
        response = await projector.get(
            f"/v1/learners/{MACHINIST}/credit-bank", as_of_time="2026-11-01T00:00:00"
        )
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "zone" in response.json()["detail"]
