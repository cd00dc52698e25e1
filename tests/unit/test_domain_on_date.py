"""The second time axis (domain.on_date): a learner's standing on a day, as known now."""

from __future__ import annotations

import datetime as dt

from credit_ledger.demo_catalog import demo_events as demo_catalog_events
from domain.on_date import bank_on_date, end_of_day
from domain.replay import Timed, as_of, as_on_date
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    CATALOG_RECORDED_AT,
    LEARNER,
    assessment_revoked,
    demo_rule,
    log_with,
    passed,
)

CNC = "ADV-CNC-MACHINING"
EARNED = dt.date(2026, 3, 1)
LATER = dt.date(2026, 5, 1)


def _catalog() -> list[Timed]:
    events = [event for _, event in demo_catalog_events()]
    return [(event, position, CATALOG_RECORDED_AT) for position, event in enumerate(events, 1)]


def test_a_day_counts_the_passes_assessed_by_then_however_late_they_were_recorded() -> None:
    early = [passed(code, assessed_on=EARNED) for code in ADV_CNC_COMPONENTS[:4]]
    last = passed(ADV_CNC_COMPONENTS[4], assessed_on=LATER)
    log = log_with(*early, last)
    position = log.entries[-1][1]
    on_earned = as_on_date(LEARNER, log.entries, _catalog(), position, EARNED)
    assert sorted(p.code for p in on_earned.bank.passes.values()) == sorted(ADV_CNC_COMPONENTS[:4])
    assert on_earned.at == end_of_day(EARNED)
    assert on_earned.view().as_of_date == EARNED
    assert [d.satisfied for d in on_earned.decisions if d.qualification_code == CNC] == [False]
    on_later = as_on_date(LEARNER, log.entries, _catalog(), position, LATER)
    assert [d.satisfied for d in on_later.decisions if d.qualification_code == CNC] == [True]
    # The first axis, as of the same position, knows the same passes, judged at event time.
    known = as_of(LEARNER, log.entries, _catalog(), position, log.now)
    assert known.view().as_of_date is None
    assert len(known.bank.passes) == len(on_later.bank.passes)


def test_a_revocation_recorded_since_counts_on_the_day_too() -> None:
    first = passed(ADV_CNC_COMPONENTS[0], assessed_on=EARNED)
    log = log_with(first, assessment_revoked(first))
    bank = bank_on_date(log.bank(), EARNED)
    assert [p.revoked for p in bank.passes.values()] == [True]


def test_an_award_counts_from_the_day_it_was_recorded_while_its_components_do() -> None:
    log = log_with(*(passed(code, assessed_on=EARNED) for code in ADV_CNC_COMPONENTS))
    log.award(demo_rule(CNC))
    bank = log.bank()
    award = next(iter(bank.awards.values()))
    assert award.recorded_at is not None
    recorded_on = award.recorded_at.date()
    assert list(bank_on_date(bank, recorded_on).awards) == [award.award_id]
    assert bank_on_date(bank, recorded_on - dt.timedelta(days=1)).awards == {}
