"""An auditor's replay, from the ledger's read API alone, gives the projector's answer at every
moment of a random history: the credit bank, every award decision and its explanation."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import msgspec
import pytest

from credit_ledger.audit_cli import render_replay, replay_command
from domain.award_check import NoAward
from proto.envelope import Role
from services.common.ledger_client import LedgerClient
from services.ledger.audit.replay import load_history, replay, replay_learner, resolve
from tests.support.awards import genuine_award
from tests.support.factories import (
    ATI,
    NSTI,
    assessment_passed,
    assessment_revoked,
    credits_redeemed,
)
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import Projector, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

SEED = 20261129
STEPS = 26
# (codes, institutions accredited for them, mode)
FAMILIES = [
    (("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC"), (NSTI, ATI), "training"),
    (("AI-INTRO", "AI-PYML", "AI-DL"), ("NIELIT-DELHI",), "training"),
    (("CUL-HYGIENE", "CUL-BASIC", "CUL-KITCHEN", "CUL-INDIAN", "CUL-BAKERY"), ("THSC-RPL",), "rpl"),
]
# Old enough that some passes have expired (7-year shelf life) by the time they are recorded.
ASSESSED_ON = ["2017-05-02", "2019-12-31", "2023-06-15", "2025-01-20", "2026-02-02"]


Pass = tuple[str, str, str, str]  # institution, assessment id, code, assessed on


@dataclass
class Learner:
    learner_id: str
    passes: list[Pass] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    redeemed: set[str] = field(default_factory=set)
    awards: list[str] = field(default_factory=list)


async def expect_created(response: Any) -> None:
    assert response.status_code == 201, response.text


# Steps that must happen somewhere in every history, so each seed exercises them.
FORCED = {6: "revoke", STEPS // 2: "rule", 17: "redeem", 21: "award"}


def redeemable(held: list[Pass]) -> list[Pass]:
    # ATI redeems capital-goods passes that are still within their shelf life.
    return [p for p in held if p[0] in (NSTI, ATI) and p[3] >= "2020"]


async def write_random_history(ledger: Ledger, rng: random.Random) -> list[Learner]:
    learners = [Learner(f"{rng.randrange(10**11, 10**12)}") for _ in range(2)]
    for step in range(STEPS):
        learner = learners[0] if step in FORCED else rng.choice(learners)
        held = [p for p in learner.passes if p[1] not in learner.revoked | learner.redeemed]
        kind = FORCED.get(step) or rng.choices(["pass", "revoke", "redeem"], [8, 1, 1])[0]
        if kind == "rule":
            body = {"event_id": str(uuid.uuid4()), "event": new_rule_version()}
            await expect_created(await ledger.post("/v1/events", body))
        elif kind == "revoke" and held:
            institution, assessment_id, _, _ = rng.choice(held)
            revoked = assessment_revoked(
                assessment_id=assessment_id,
                learner_id=learner.learner_id,
                institution_id=institution,
            )
            await expect_created(await ledger.append(revoked, institution))
            learner.revoked.add(assessment_id)
        elif kind == "redeem" and redeemable(held):
            institution, assessment_id, _, _ = rng.choice(redeemable(held))
            redeemed = credits_redeemed(
                passes=[(institution, assessment_id)], learner_id=learner.learner_id
            )
            await expect_created(await ledger.append(redeemed, ATI))
            learner.redeemed.add(assessment_id)
        elif kind == "award":
            await record_award(ledger, learner)
        else:
            await record_pass(ledger, learner, rng, recent=step < 6)
    return learners


async def record_pass(
    ledger: Ledger, learner: Learner, rng: random.Random, *, recent: bool
) -> None:
    codes, institutions, mode = FAMILIES[0] if recent else rng.choice(FAMILIES)
    institution, code = rng.choice(institutions), rng.choice(codes)
    day = ASSESSED_ON[-1] if recent else rng.choice(ASSESSED_ON)
    passed = assessment_passed(
        learner_id=learner.learner_id,
        institution_id=institution,
        code=code,
        mode=mode,
        assessed_on=day,
    )
    await expect_created(await ledger.append(passed, institution))
    learner.passes.append((institution, passed["assessment_id"], code, day))


def new_rule_version() -> dict[str, Any]:
    """Version 2 of a rule, recorded mid-history: later positions are judged by it."""
    return {
        "type": "QualificationDefined",
        "code": "ADV-CNC-MACHINING",
        "version": 2,
        "title": "Advanced CNC Machining",
        "sector": "CAPITAL-GOODS",
        "level": "4.5",
        "required": ["CNC-FUND", "CNC-PROG"],
        "electives": [{"codes": ["CNC-ADV", "CNC-MAINT", "CNC-QC"], "min_count": 1}],
        "min_credits": 7,
        "min_component_level": "4",
    }


async def record_award(ledger: Ledger, learner: Learner) -> None:
    """A genuine award: the certificate's modules, recent, then what the core computes."""
    for code in ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC"):
        passed = assessment_passed(
            learner_id=learner.learner_id, institution_id=NSTI, code=code, assessed_on="2026-02-02"
        )
        await expect_created(await ledger.append(passed, NSTI))
        learner.passes.append((NSTI, passed["assessment_id"], code, "2026-02-02"))
    found = await genuine_award(ledger, learner.learner_id, "ADV-CNC-MACHINING")
    assert not isinstance(found, NoAward), found
    event, version = found
    learner.awards.append(event["award_id"])
    body = {"event_id": event["award_id"], "event": event, "expected_version": version}
    await expect_created(await ledger.post("/v1/events", body, Role.ISSUER))


async def projector_answer(projector: Projector, learner_id: str, **as_of: Any) -> Any:
    response = await projector.get(f"/v1/learners/{learner_id}/credit-bank", **as_of)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


async def auditor_answer(
    ledger: Ledger, learner_id: str, as_of: int | dt.datetime | dt.date
) -> Any:
    """What ``credit-ledger audit replay --learner ID --as-of X --json`` prints."""
    out = StringIO()
    status = await replay_command(
        ledger.base_url, await ledger.key(Role.AUDITOR), learner_id, as_of, True, out
    )
    if status == 1:
        return None
    assert status == 0
    return json.loads(out.getvalue())


async def test_replay_at_every_position_is_the_projectors_answer_at_that_moment(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learners = await write_random_history(ledger, random.Random(SEED))
        head = await projector.caught_up()
        seen: list[dict[str, Any]] = []
        reader = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
        try:
            for learner in learners:
                # The CLI's own steps, with the learner's history read once for speed; the
                # whole command (every read, the JSON it prints) runs at every 5th position.
                history = await load_history(reader, learner.learner_id)
                for position in range(head + 1):
                    expected = await projector_answer(
                        projector, learner.learner_id, as_of_position=position
                    )
                    if position % 5 == 0 or position == head:
                        actual = await auditor_answer(ledger, learner.learner_id, position)
                    else:
                        answer = replay(history, *await resolve(reader, position))
                        actual = None if answer is None else msgspec.to_builtins(answer)
                    assert actual == expected, position
                    if expected is not None:
                        seen.append(expected)
        finally:
            await reader.close()
    # The history exercised what an auditor must see explained.
    banks = [answer["credit_bank"] for answer in seen]
    decisions = [d for answer in seen for d in answer["progress"]]
    assert any(bank["expired"] for bank in banks)
    assert any(bank["revoked"] for bank in banks)
    assert any(bank["redeemed"] for bank in banks)
    assert any(bank["qualifications"] for bank in banks)
    assert any(d["rule_version"] == 2 for d in decisions)
    assert any(d["not_counted"] for d in decisions)
    assert any(d["satisfied"] for d in decisions)


async def test_replay_as_of_a_time_is_the_projectors_answer_at_that_time(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learners = await write_random_history(ledger, random.Random(SEED + 1))
        head = await projector.caught_up()
        log = (await ledger.get("/v1/log", Role.AUDITOR, after_position=head - 12, limit=12)).json()
        times = [dt.datetime.fromisoformat(e["recorded_at"]) for e in log["events"]]
        one_us = dt.timedelta(microseconds=1)
        moments = [
            times[0] - one_us,
            *times[::3],
            times[5] + one_us,
            times[-1] + dt.timedelta(days=400),
        ]
        for learner in learners:
            for moment in moments:
                expected = await projector_answer(
                    projector, learner.learner_id, as_of_time=moment.isoformat()
                )
                assert await auditor_answer(ledger, learner.learner_id, moment) == expected, moment


async def test_the_readable_replay_explains_every_decision(database_url: str) -> None:
    async with served_ledger(database_url) as ledger:
        learner = "444455556666"
        for code in ("CNC-FUND", "CNC-PROG"):
            passed = assessment_passed(learner_id=learner, code=code, assessed_on="2025-03-01")
            await expect_created(await ledger.append(passed, NSTI))
        reader = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
        try:
            answer = await replay_learner(reader, learner, None)
        finally:
            await reader.close()
        assert answer is not None
        text = render_replay(answer)
        assert f"learner {learner} as of position 30" in text
        assert "credit bank on" in text
        assert "ADV-CNC-MACHINING v1 for learner" in text
        assert "missing required: CNC-ADV, CNC-MAINT, CNC-QC" in text
        assert "counted CNC-FUND" in text


async def test_replay_on_a_day_is_the_projectors_answer_on_that_day(
    database_url: str, nats: NatsHandle
) -> None:
    """The second axis (as_of_date): the same answer from the projector's API and from
    `audit replay --as-of-date`, on days before, between and after the passes."""
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        learners = await write_random_history(ledger, random.Random(SEED + 2))
        await projector.caught_up()
        days = [
            dt.date(2018, 1, 1),
            dt.date(2024, 6, 30),
            dt.date(2026, 3, 31),
            dt.date(2031, 1, 1),
        ]
        answered = 0
        for learner in learners:
            for day in days:
                expected = await projector_answer(
                    projector, learner.learner_id, as_of_date=day.isoformat()
                )
                assert await auditor_answer(ledger, learner.learner_id, day) == expected, day
                if expected is not None:
                    assert expected["as_of_date"] == day.isoformat()
                    assert all(
                        p["assessed_on"] <= day.isoformat()
                        for kind in ("valid", "expired", "revoked", "redeemed")
                        for p in expected["credit_bank"].get(kind, [])
                    )
                    answered += 1
        assert answered > 0
        both = await projector.get(
            f"/v1/learners/{learners[0].learner_id}/credit-bank",
            as_of_date="2026-03-31",
            as_of_position=1,
        )
        assert both.status_code == 422, both.text
