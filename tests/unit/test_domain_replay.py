"""The read core: a learner as of a position, as the projector, the auditor and the issuer
read it."""

from __future__ import annotations

import datetime as dt

from credit_ledger.demo_catalog import demo_events as demo_catalog_events
from domain.holdings import is_held
from domain.replay import (
    EPOCH,
    Timed,
    as_of,
    bank_as_of,
    catalog_as_of,
    decision_as_of,
    event_time,
    relevant_decisions,
    thresholds_of,
)
from domain.shelf_life import shelf_life_end
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    CATALOG_RECORDED_AT,
    LEARNER,
    LearnerLog,
    demo_rule,
    log_with,
    passes_of,
)

CNC = "ADV-CNC-MACHINING"


def _catalog() -> list[Timed]:
    events = [event for _, event in demo_catalog_events()]
    return [(event, position, CATALOG_RECORDED_AT) for position, event in enumerate(events, 1)]


def _satisfied() -> LearnerLog:
    return log_with(*passes_of(ADV_CNC_COMPONENTS))


def test_as_of_leaves_out_what_was_recorded_after_the_position() -> None:
    log = _satisfied()
    before_last = log.entries[-2][1]
    answer = as_of(LEARNER, log.entries, _catalog(), before_last, log.entries[-2][2])
    assert answer.bank == bank_as_of(LEARNER, log.entries[:-1])
    assert answer.bank.position == before_last
    assert [d.satisfied for d in answer.decisions if d.qualification_code == CNC] == [False]


def test_as_of_the_last_event_decides_what_the_log_supports() -> None:
    log = _satisfied()
    position, at = log.entries[-1][1], log.entries[-1][2]
    answer = as_of(LEARNER, log.entries, _catalog(), position, at)
    assert answer.found
    assert [d.qualification_code for d in answer.decisions if d.satisfied] == [CNC]
    assert answer.summary.on == at.date()
    view = answer.view()
    assert (view.as_of_position, view.as_of_time) == (position, at)
    assert view.credit_bank.total_hours == answer.summary.total_hours
    assert [d.qualification_code for d in view.progress] == [
        d.qualification_code for d in answer.decisions
    ]


def test_a_learner_without_events_by_then_is_not_found() -> None:
    log = _satisfied()
    answer = as_of(LEARNER, log.entries, _catalog(), log.entries[0][1] - 1, EPOCH)
    assert not answer.found
    assert answer.decisions == []


def test_the_catalog_is_folded_in_log_order_whatever_order_its_streams_come_in() -> None:
    catalog = _catalog()
    assert catalog_as_of(reversed(catalog)) == catalog_as_of(catalog)
    assert catalog_as_of(catalog, 0).rules == {}


def test_one_decision_as_of_matches_the_relevant_decisions() -> None:
    log = _satisfied()
    position, at = log.entries[-1][1], log.entries[-1][2]
    decisions = relevant_decisions(
        catalog_as_of(_catalog()), bank_as_of(LEARNER, log.entries), position, at
    )
    one = decision_as_of(LEARNER, log.entries, _catalog(), CNC, position, at)
    assert one in decisions
    assert decision_as_of(LEARNER, log.entries, _catalog(), "NO-SUCH", position, at) is None


def test_a_threshold_only_while_no_award_of_the_rule_is_held() -> None:
    log = _satisfied()
    bank = log.bank()
    decisions = relevant_decisions(catalog_as_of(_catalog()), bank, bank.position, log.now)
    [threshold] = thresholds_of(bank, decisions, bank.position)
    assert (threshold.decision.qualification_code, threshold.award_generation) == (CNC, 0)
    log.award(demo_rule(CNC))
    awarded = log.bank()
    after = relevant_decisions(catalog_as_of(_catalog()), awarded, awarded.position, log.now)
    assert thresholds_of(awarded, after, awarded.position) == []


def test_the_event_time_before_anything_was_recorded_is_the_epoch() -> None:
    moment = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert event_time(None) == EPOCH
    assert event_time(moment) == moment


def test_held_ends_on_the_first_day_after_the_shelf_life() -> None:
    ends = shelf_life_end(dt.date(2024, 2, 29), 2)
    assert ends == dt.date(2026, 2, 28)
    assert is_held(ends - dt.timedelta(days=1), revoked=False, redeemed=False, expires_on=ends)
    assert not is_held(ends, revoked=False, redeemed=False, expires_on=ends)
    assert not is_held(dt.date(2025, 1, 1), revoked=True, redeemed=False, expires_on=ends)
    assert not is_held(dt.date(2025, 1, 1), revoked=False, redeemed=True, expires_on=ends)
