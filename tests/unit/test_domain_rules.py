"""Stacking rules (docs/architecture.md §1), one clause per test, on the demo catalog's qualifications."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import Rule
from domain.credit_bank import PassKey
from domain.rules import (
    Decision,
    award_event,
    award_generation,
    award_id,
    evaluate,
    explain,
)
from proto import events as ev
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    CULINARY_REQUIRED,
    GUEST_REQUIRED,
    LEARNER,
    LearnerLog,
    assessment_revoked,
    cnc_master,
    cnc_operator,
    credits_redeemed,
    demo_catalog,
    demo_rule,
    log_with,
    passed,
    passes_of,
    qualification_defined,
    qualification_revoked,
    recorded_award,
    rpl_passed,
    rule_of,
)


def _key(p: ev.AssessmentPassed) -> PassKey:
    return PassKey(p.institution_id, p.assessment_id)


def _reasons(decision: Decision) -> dict[str, str]:
    return {n.code: n.reason for n in decision.not_counted}


def _counted_codes(decision: Decision) -> list[str]:
    return [c.code for c in decision.counted]


# --- required, electives, min_credits -------------------------------------------------------


def test_holding_every_required_component_and_the_credits_satisfies_the_rule() -> None:
    decision = log_with(*passes_of(ADV_CNC_COMPONENTS)).evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert decision.satisfied
    assert (decision.counted_hours, decision.counted_credits) == (360, Fraction(12))
    assert _counted_codes(decision) == sorted(ADV_CNC_COMPONENTS)


def test_a_missing_required_component_is_named_and_fails_the_rule() -> None:
    held = passes_of(code for code in ADV_CNC_COMPONENTS if code != "CNC-QC")
    decision = log_with(*held).evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert not decision.satisfied
    assert decision.missing_required == ("CNC-QC",)


def test_electives_need_min_count_of_their_group() -> None:
    one_elective = log_with(*passes_of([*GUEST_REQUIRED, "HOSP-HOTEL-OPS"]))
    decision = one_elective.evaluate(demo_rule("GUEST-EXPERIENCE"))
    (group,) = decision.electives
    assert (group.held, group.short_by, decision.satisfied) == (("HOSP-HOTEL-OPS",), 1, False)


def test_electives_met_with_enough_of_the_group() -> None:
    two = log_with(*passes_of([*GUEST_REQUIRED, "HOSP-HOTEL-OPS", "HOSP-EVENT"]))
    decision = two.evaluate(demo_rule("GUEST-EXPERIENCE"))
    assert decision.electives[0].short_by == 0
    assert decision.satisfied
    assert decision.counted_hours == 150 + 90 + 60


def test_counted_credits_must_reach_min_credits() -> None:
    rule = rule_of(
        qualification_defined(
            "HOSP-BASICS",
            required=["HOSP-FUND", "HOSP-CUST"],
            min_credits=5,
            sector="TOURISM-HOSPITALITY",
        )
    )
    decision = log_with(*passes_of(["HOSP-FUND", "HOSP-CUST"])).evaluate(rule)
    assert decision.missing_required == ()
    assert decision.counted_credits == 4
    assert not decision.satisfied


def test_codes_the_rule_does_not_name_do_not_count() -> None:
    ai = passed("AI-INTRO")
    decision = log_with(*passes_of(ADV_CNC_COMPONENTS), ai).evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert "AI-INTRO" not in _counted_codes(decision)
    assert _reasons(decision)["AI-INTRO"] == "not_in_rule"
    assert decision.counted_hours == 360


# --- min_component_level ----------------------------------------------------------------------


def test_components_below_min_component_level_neither_count_nor_satisfy() -> None:
    rule = rule_of(
        qualification_defined(
            "CNC-ADV-ONLY",
            required=["CNC-ADV", "CNC-FUND"],
            min_credits=3,
            min_component_level="4.5",
        )
    )
    decision = log_with(*passes_of(["CNC-ADV", "CNC-FUND"])).evaluate(rule)
    assert decision.missing_required == ("CNC-FUND",)
    assert _reasons(decision) == {"CNC-FUND": "below_level"}
    assert decision.counted_hours == 90


# --- max_rpl_share ----------------------------------------------------------------------------


def _culinary_with_rpl(*rpl_codes: str, extra: tuple[str, ...] = ("CUL-BAKERY",)) -> LearnerLog:
    """Culinary passes; ``rpl_codes`` by RPL, assessed a month apart in the order given."""
    rpl = [
        rpl_passed(code, assessed_on=dt.date(2026, 1 + n, 10)) for n, code in enumerate(rpl_codes)
    ]
    training = passes_of(c for c in (*CULINARY_REQUIRED, *extra) if c not in rpl_codes)
    return log_with(*rpl, *training)


def test_rpl_credits_are_capped_at_rule_share() -> None:
    # min 11 credits at share 0.5: at most 165 RPL hours count; 180 were offered.
    decision = _culinary_with_rpl("CUL-BASIC", "CUL-INDIAN").evaluate(
        demo_rule("CULINARY-ARTS-CERT")
    )
    assert decision.rpl_credits_counted == Fraction(11, 2)
    assert decision.counted_hours == 330 - 15
    assert not decision.satisfied


def test_the_latest_rpl_pass_is_cut_first_and_the_cut_is_recorded() -> None:
    decision = _culinary_with_rpl("CUL-BASIC", "CUL-INDIAN").evaluate(
        demo_rule("CULINARY-ARTS-CERT")
    )
    cut = [n for n in decision.not_counted if n.reason == "rpl_cap"]
    assert [(n.code, n.hours) for n in cut] == [("CUL-INDIAN", 15)]
    hours = {c.code: c.counted_hours for c in decision.counted}
    assert (hours["CUL-BASIC"], hours["CUL-INDIAN"]) == (90, 75)


def test_an_rpl_pass_cut_entirely_still_satisfies_its_requirement() -> None:
    log = _culinary_with_rpl("CUL-BASIC", "CUL-INDIAN", "CUL-HYGIENE")
    decision = log.evaluate(demo_rule("CULINARY-ARTS-CERT"))
    hygiene = next(c for c in decision.counted if c.code == "CUL-HYGIENE")
    assert (hygiene.hours, hygiene.counted_hours) == (30, 0)
    assert decision.missing_required == ()


def test_training_credits_make_up_for_capped_rpl_credits() -> None:
    log = _culinary_with_rpl("CUL-BASIC", "CUL-INDIAN", extra=("CUL-BAKERY", "HOSP-FNB"))
    decision = log.evaluate(demo_rule("CULINARY-ARTS-CERT"))
    assert decision.counted_hours == 315 + 60
    assert decision.satisfied


# --- shelf life at event time -----------------------------------------------------------------


def _cnc_with_qc_assessed(on: dt.date) -> LearnerLog:
    early = dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC)
    held = [*passes_of(ADV_CNC_COMPONENTS[:-1]), passed("CNC-QC", assessed_on=on)]
    return LearnerLog().record(*held, at=early)


def test_a_pass_expiring_before_the_evaluation_date_does_not_count() -> None:
    log = _cnc_with_qc_assessed(dt.date(2019, 2, 1))  # shelf life ends 2026-02-01
    decision = log.evaluate(
        demo_rule("ADV-CNC-MACHINING"), at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    )
    assert _reasons(decision) == {"CNC-QC": "expired"}
    assert decision.missing_required == ("CNC-QC",)


def test_the_same_pass_counts_when_evaluated_before_it_expires() -> None:
    log = _cnc_with_qc_assessed(dt.date(2019, 2, 1))
    at = dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC)
    assert log.evaluate(demo_rule("ADV-CNC-MACHINING"), at=at).satisfied


def test_shelf_life_is_judged_on_the_utc_day_of_the_event_time() -> None:
    log = _cnc_with_qc_assessed(dt.date(2019, 2, 1))
    evening_in_lima = dt.datetime(2026, 1, 31, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    decision = log.evaluate(demo_rule("ADV-CNC-MACHINING"), at=evening_in_lima)
    assert decision.evaluated_on == dt.date(2026, 2, 1)
    assert not decision.satisfied


def test_a_naive_evaluation_time_is_refused() -> None:
    bank = log_with(passed("CNC-FUND")).bank()
    with pytest.raises(ValueError, match="time zone"):
        evaluate(demo_rule("ADV-CNC-MACHINING"), bank, dt.datetime(2026, 3, 2, 9, 0))


# --- redemption, revocation, one pass per code ------------------------------------------------


def test_redeemed_passes_never_count() -> None:
    *others, qc = passes_of(ADV_CNC_COMPONENTS)
    decision = log_with(*others, qc, credits_redeemed(qc)).evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert _reasons(decision) == {"CNC-QC": "redeemed"}
    assert decision.missing_required == ("CNC-QC",)


def test_revoked_passes_do_not_count() -> None:
    *others, qc = passes_of(ADV_CNC_COMPONENTS)
    log = log_with(*others, qc, assessment_revoked(qc))
    decision = log.evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert _reasons(decision) == {"CNC-QC": "revoked"}
    assert not decision.satisfied


def test_each_code_counts_once_with_its_latest_pass_by_assessment_date() -> None:
    later = passed("CNC-FUND", assessed_on=dt.date(2026, 2, 1))
    earlier_recorded_after = passed("CNC-FUND", assessed_on=dt.date(2025, 2, 1))
    log = log_with(later, earlier_recorded_after, *passes_of(ADV_CNC_COMPONENTS[1:]))
    decision = log.evaluate(demo_rule("ADV-CNC-MACHINING"))
    fund = next(c for c in decision.counted if c.code == "CNC-FUND")
    assert fund.pass_key == _key(later)
    assert [(n.pass_key, n.reason) for n in decision.not_counted] == [
        (_key(earlier_recorded_after), "superseded")
    ]
    assert decision.counted_hours == 360


def test_an_older_valid_pass_counts_when_the_latest_is_revoked() -> None:
    older, newer = (passed("CNC-FUND", assessed_on=dt.date(y, 2, 1)) for y in (2024, 2026))
    log = log_with(older, newer, assessment_revoked(newer), *passes_of(ADV_CNC_COMPONENTS[1:]))
    decision = log.evaluate(demo_rule("ADV-CNC-MACHINING"))
    assert next(c for c in decision.counted if c.code == "CNC-FUND").pass_key == _key(older)
    assert decision.satisfied


# --- lower qualifications ---------------------------------------------------------------------


def _operator_then(*more: ev.AssessmentPassed) -> LearnerLog:
    """A learner awarded CNC-OPERATOR (CNC-FUND, CNC-PROG) who then passes ``more``."""
    log = log_with(*passes_of(["CNC-FUND", "CNC-PROG"]))
    log.award(rule_of(cnc_operator()))
    return log.record(*more)


def test_a_lower_qualification_satisfies_its_requirement_and_its_credits_count_once() -> None:
    decision = _operator_then(passed("CNC-ADV")).evaluate(rule_of(cnc_master()))
    via = {c.code: c.via_qualification for c in decision.counted}
    # CNC-FUND is named directly and is also inside CNC-OPERATOR: its 60 h count once.
    assert via == {"CNC-ADV": None, "CNC-FUND": None, "CNC-PROG": "CNC-OPERATOR"}
    assert decision.counted_hours == 60 + 90 + 90
    assert decision.required_qualifications == ("CNC-OPERATOR",)
    assert decision.satisfied


def test_without_the_lower_award_its_components_are_not_in_the_rule() -> None:
    log = log_with(*passes_of(["CNC-FUND", "CNC-PROG", "CNC-ADV"]))
    decision = log.evaluate(rule_of(cnc_master()))
    assert decision.missing_required == ("CNC-OPERATOR",)
    assert _reasons(decision) == {"CNC-PROG": "not_in_rule"}


def test_a_revoked_lower_qualification_is_not_held() -> None:
    log = _operator_then(passed("CNC-ADV"))
    (award,) = (e for e, _, _ in log.entries if isinstance(e, ev.QualificationAwarded))
    decision = log.record(qualification_revoked(award)).evaluate(rule_of(cnc_master()))
    assert decision.missing_required == ("CNC-OPERATOR",)
    assert decision.required_qualifications == ()


def test_only_the_passes_that_made_up_a_lower_award_come_with_it() -> None:
    retaken = passed("CNC-PROG", assessed_on=dt.date(2026, 3, 1))
    decision = _operator_then(passed("CNC-ADV"), retaken).evaluate(rule_of(cnc_master()))
    prog = next(c for c in decision.counted if c.code == "CNC-PROG")
    assert prog.pass_key != _key(retaken)
    assert [(n.pass_key, n.reason) for n in decision.not_counted] == [
        (_key(retaken), "not_in_rule")
    ]


def test_components_of_a_lower_qualification_count_only_while_held() -> None:
    log = _operator_then(passed("CNC-ADV"))
    prog = next(
        e
        for e, _, _ in log.entries
        if isinstance(e, ev.AssessmentPassed) and e.micro_credential_code == "CNC-PROG"
    )
    decision = log.record(credits_redeemed(prog)).evaluate(rule_of(cnc_master()))
    assert _reasons(decision) == {"CNC-PROG": "redeemed"}
    assert decision.missing_required == ()  # the award itself still stands
    assert not decision.satisfied  # but its redeemed credits are gone: 150 h of 240


# --- rule versions ----------------------------------------------------------------------------


def test_a_new_rule_version_governs_only_evaluations_after_it_is_recorded() -> None:
    v2 = qualification_defined(
        "ADV-CNC-MACHINING", version=2, required=list(ADV_CNC_COMPONENTS), min_credits=13
    )
    catalog = demo_catalog(v2, later_from_position=5000)
    log = log_with(*passes_of(ADV_CNC_COMPONENTS))
    before, after = (catalog.rule_in_force("ADV-CNC-MACHINING", p) for p in (4999, 5000))
    assert before is not None
    assert after is not None
    assert (log.evaluate(before).rule_version, log.evaluate(before).satisfied) == (1, True)
    assert (log.evaluate(after).rule_version, log.evaluate(after).satisfied) == (2, False)


# --- credit points, awards, explanations ------------------------------------------------------


def test_credit_points_are_counted_credits_times_level_exactly() -> None:
    decision = log_with(*passes_of(ADV_CNC_COMPONENTS)).evaluate(demo_rule("ADV-CNC-MACHINING"))
    # 270 h at level 4 (9 credits x 4) and 90 h at level 4.5 (3 credits x 4.5).
    assert decision.credit_points == 36 + Fraction(27, 2)


def test_award_ids_are_deterministic_uuid5_of_learner_code_version_generation() -> None:
    first = award_id(LEARNER, "ADV-CNC-MACHINING", 1, 0)
    assert first == award_id(LEARNER, "ADV-CNC-MACHINING", 1, 0)
    assert first != award_id(LEARNER, "ADV-CNC-MACHINING", 1, 1)
    assert first != award_id(LEARNER, "ADV-CNC-MACHINING", 2, 0)
    assert first[14] == "5"  # the UUID version digit


def test_award_generation_counts_revoked_awards_too() -> None:
    log = log_with(*passes_of(["CNC-FUND", "CNC-PROG"]))
    first = log.award(rule_of(cnc_operator()))
    log.record(qualification_revoked(first))
    assert award_generation(log.bank(), "CNC-OPERATOR") == 1
    renewed = log.award(rule_of(cnc_operator()))
    assert (renewed.award_generation, renewed.award_id != first.award_id) == (1, True)


def test_an_award_records_every_counted_component_and_the_exact_points() -> None:
    log = _operator_then(passed("CNC-ADV"))
    award = log.award(rule_of(cnc_master()))
    assert [c.micro_credential_code for c in award.components] == [
        "CNC-ADV",
        "CNC-FUND",
        "CNC-PROG",
    ]
    assert (award.counted_hours, award.credit_points) == (240, "67/2")
    assert award.required_qualifications == ["CNC-OPERATOR"]


def test_no_award_is_made_from_an_unsatisfied_decision() -> None:
    decision = log_with(passed("CNC-FUND")).evaluate(demo_rule("ADV-CNC-MACHINING"))
    with pytest.raises(ValueError, match="not satisfied"):
        award_event(decision, 0, decision.bank_position)


def test_explanation_names_what_is_missing_and_why_passes_were_left_out() -> None:
    *others, qc = passes_of(ADV_CNC_COMPONENTS)
    log = log_with(*others, qc, assessment_revoked(qc))
    lines = explain(log.evaluate(demo_rule("ADV-CNC-MACHINING")))
    assert lines[0].endswith("not satisfied")
    assert "missing required: CNC-QC" in lines
    assert any(line.startswith("not counted CNC-QC") and "revoked" in line for line in lines)
    assert any(line.startswith("counted CNC-ADV") and "level 4.5" in line for line in lines)


# --- properties -------------------------------------------------------------------------------

_POOL = ["CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-QC", "CUL-BASIC", "CUL-INDIAN", "HOSP-FNB"]
_RULES = [
    demo_rule("ADV-CNC-MACHINING"),
    demo_rule("CULINARY-ARTS-CERT"),
    rule_of(cnc_master()),
    rule_of(
        qualification_defined(
            "RPL-HEAVY",
            required=["CNC-FUND"],
            electives=[ev.ElectiveGroup(codes=_POOL, min_count=2)],
            min_credits=7,
            min_component_level="4",
            max_rpl_share="0.3333",
        )
    ),
]
_STILL_HELD_FROM = dt.date(2019, 4, 1)  # passes assessed since are held when recorded

_pass_specs = st.lists(
    st.tuples(
        st.sampled_from(_POOL),
        st.booleans(),  # by RPL
        st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2026, 3, 1)),
        st.sampled_from(["held", "held", "held", "revoked", "redeemed"]),
        st.booleans(),  # a component of an earlier CNC-OPERATOR award
    ),
    max_size=16,
)


def _bank_from(specs: list[tuple[str, bool, dt.date, str, bool]]) -> LearnerLog:
    log = LearnerLog()
    components: list[ev.AssessmentPassed] = []
    for code, by_rpl, assessed_on, fate, in_award in specs:
        p = (
            rpl_passed(code, assessed_on=assessed_on)
            if by_rpl
            else passed(code, assessed_on=assessed_on)
        )
        log.record(p)
        if fate == "revoked":
            log.record(assessment_revoked(p))
        elif fate == "redeemed" and assessed_on >= _STILL_HELD_FROM:
            log.record(credits_redeemed(p))
        if in_award:
            components.append(p)
    if components:
        log.record(recorded_award("CNC-OPERATOR", components))
    return log


@settings(max_examples=300, deadline=dt.timedelta(seconds=2), derandomize=True, database=None)
@given(
    specs=_pass_specs,
    rule=st.sampled_from(_RULES),
    at=st.datetimes(
        min_value=dt.datetime(2026, 3, 2),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(dt.UTC),
    ),
)
def test_evaluation_counts_each_code_once_and_every_hour_exactly_once(
    specs: list[tuple[str, bool, dt.date, str, bool]], rule: Rule, at: dt.datetime
) -> None:
    bank = _bank_from(specs).bank()
    decision = evaluate(rule, bank, at)

    codes = _counted_codes(decision)
    assert len(codes) == len(set(codes))
    assert decision.counted_credits == Fraction(sum(c.counted_hours for c in decision.counted), 30)
    assert decision.counted_hours == sum(c.counted_hours for c in decision.counted)

    accounted = dict.fromkeys(bank.passes, 0)
    for c in decision.counted:
        accounted[c.pass_key] += c.counted_hours
    for n in decision.not_counted:
        accounted[n.pass_key] += n.hours
    assert accounted == {key: p.notional_hours for key, p in bank.passes.items()}

    if rule.max_rpl_share is not None:
        assert decision.rpl_credits_counted <= rule.max_rpl_share * rule.min_credits
