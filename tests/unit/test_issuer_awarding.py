"""The issuer's award decision: the pure core re-evaluates the learner's whole history."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.awards import award_id
from services.issuer.awarding import AppendAward, SkipAward, decide_award
from services.issuer.history import LearnerHistory, Recorded
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    LEARNER,
    LearnerLog,
    assessment_revoked,
    award_block_lifted,
    cnc_master,
    cnc_operator,
    demo_catalog,
    demo_rule,
    passed,
    passes_of,
    qualification_defined,
    qualification_revoked,
)
from tests.support.issuer import history_of

CERT = "ADV-CNC-MACHINING"


def test_a_satisfied_rule_asks_for_the_deterministic_award_at_the_stream_version() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(decision, AppendAward)
    assert decision.expected_version == 5
    assert decision.event_id == award_id(LEARNER, CERT, 1, 0)
    assert decision.event.award_generation == 0
    assert decision.event.counted_hours == 360
    assert decision.event.credit_points == "99/2"
    assert decision.event.decided_at_position == log.entries[-1][1]
    assert sorted(c.micro_credential_code for c in decision.event.components) == sorted(
        ADV_CNC_COMPONENTS
    )


def test_replicas_deciding_on_the_same_history_ask_for_identical_events() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    first = decide_award(history_of(log), demo_catalog(), CERT)
    second = decide_award(history_of(log), demo_catalog(), CERT)
    assert first == second


def test_an_unsatisfied_rule_is_skipped_with_the_explanation() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS[:4]))
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(decision, SkipAward)
    assert decision.reason == "not_satisfied"
    assert "missing required: CNC-QC" in decision.detail


def test_a_held_award_is_not_awarded_again() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    held = log.award(demo_rule(CERT))
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert decision == SkipAward(
        "already_awarded",
        f"award {held.award_id} (generation 0) is held and not revoked",
        award_id=held.award_id,
        decided_at_position=log.entries[-1][1],
    )


def test_after_a_revocation_renewed_eligibility_is_the_next_generation() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS)
    log = LearnerLog().record(*passes)
    first = log.award(demo_rule(CERT))
    log.record(assessment_revoked(passes[0]))
    log.record(qualification_revoked(first), passed("CNC-FUND", assessed_on=dt.date(2026, 6, 1)))
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(decision, AppendAward)
    assert decision.event.award_generation == 1
    assert decision.event_id == award_id(LEARNER, CERT, 1, 1)
    assert decision.event_id != first.award_id


def test_the_rule_version_current_at_the_append_decides_even_if_recorded_after_the_passes() -> None:
    stricter = qualification_defined(
        CERT, version=2, required=list(ADV_CNC_COMPONENTS), min_credits=13
    )
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    for recorded_at in (500, 5000):  # before the learner's passes, and after them
        catalog = demo_catalog(stricter, later_from_position=recorded_at)
        decision = decide_award(history_of(log), catalog, CERT)
        assert isinstance(decision, SkipAward)
        assert decision.reason == "not_satisfied"
        assert "ADV-CNC-MACHINING v2" in decision.detail
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(decision, AppendAward)
    assert decision.event.qualification_version == 1


def test_a_fraud_revocation_blocks_automatic_re_award_until_lifted() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    first = log.award(demo_rule(CERT))
    log.record(qualification_revoked(first, reason_code="fraud", note="forged attendance"))
    blocked = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(blocked, SkipAward)
    assert blocked.reason == "award_blocked"
    assert "an admin must lift the block" in blocked.detail
    log.record(award_block_lifted(CERT))
    decision = decide_award(history_of(log), demo_catalog(), CERT)
    assert isinstance(decision, AppendAward)
    assert decision.event.award_generation == 1


def test_a_higher_qualification_needs_the_lower_award_in_the_log() -> None:
    catalog = demo_catalog(cnc_operator(), cnc_master(), later_from_position=500)
    log = LearnerLog().record(*passes_of(["CNC-FUND", "CNC-PROG", "CNC-ADV"]))
    waiting = decide_award(history_of(log), catalog, "CNC-MASTER")
    assert isinstance(waiting, SkipAward)
    assert "CNC-OPERATOR" in waiting.detail
    operator = catalog.current_rule("CNC-OPERATOR")
    assert operator is not None
    log.award(operator)
    decision = decide_award(history_of(log), catalog, "CNC-MASTER")
    assert isinstance(decision, AppendAward)
    assert decision.event.required_qualifications == ["CNC-OPERATOR"]


def test_no_rule_and_no_history_are_reasons_too() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS))
    unknown = decide_award(history_of(log), demo_catalog(), "NO-SUCH-QUALIFICATION")
    assert isinstance(unknown, SkipAward)
    assert unknown.reason == "no_rule_in_force"
    empty = decide_award(LearnerHistory(LEARNER, ()), demo_catalog(), CERT)
    assert isinstance(empty, SkipAward)
    assert empty.reason == "no_history"


def test_a_stream_with_a_hole_is_refused() -> None:
    log = LearnerLog().record(*passes_of(ADV_CNC_COMPONENTS[:2]))
    rows = history_of(log).events
    holed = (rows[0], Recorded(rows[1].event, rows[1].position, rows[1].recorded_at, 3, "x"))
    with pytest.raises(ValueError, match="version 3 where 2"):
        LearnerHistory(LEARNER, holed)
