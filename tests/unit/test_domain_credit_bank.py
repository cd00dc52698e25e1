"""The credit-bank fold and its summary: what a learner holds, from their events."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from credit_ledger.demo_catalog import demo_events as demo_catalog_events
from domain.credit_bank import PassKey, empty_bank, evolve, summarize
from proto import events as ev
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    FIRST_LEARNER_EVENT_AT,
    OTHER_LEARNER,
    LearnerLog,
    assessment_revoked,
    cnc_operator,
    credential_issued,
    credential_revoked,
    credits_redeemed,
    log_with,
    passed,
    passed_without_snapshot,
    passes_of,
    qualification_revoked,
    rule_of,
    snapshot_of,
)


def _key(p: ev.AssessmentPassed) -> PassKey:
    return PassKey(p.institution_id, p.assessment_id)


def test_a_pass_is_worth_what_its_snapshot_says_not_the_current_catalog() -> None:
    fund = passed("CNC-FUND", snapshot=snapshot_of("CNC-FUND", notional_hours=45, version=1))
    catalog_change = ev.MicroCredentialDefined(
        code="CNC-FUND",
        version=2,
        title="CNC Fundamentals",
        sector="CAPITAL-GOODS",
        level="4.5",
        notional_hours=90,
    )
    held = log_with(fund, catalog_change).bank().passes[_key(fund)]
    assert (held.notional_hours, held.level, held.catalog_version) == (45, "4", 1)


def test_a_pass_without_its_catalog_snapshot_is_refused() -> None:
    with pytest.raises(ValueError, match="without a snapshot"):
        log_with(passed_without_snapshot("CNC-FUND")).bank()


def test_events_of_another_learner_are_refused() -> None:
    with pytest.raises(ValueError, match="of learner 210987654321"):
        log_with(passed("CNC-FUND", learner_id=OTHER_LEARNER)).bank()


def test_catalog_and_institution_events_leave_the_bank_unchanged() -> None:
    bank = log_with(passed("CNC-FUND")).bank()
    for _, event in demo_catalog_events():
        assert evolve(bank, event, bank.position + 1, FIRST_LEARNER_EVENT_AT) is bank


def test_an_event_at_or_before_the_banks_position_is_refused() -> None:
    bank = log_with(passed("CNC-FUND")).bank()
    with pytest.raises(ValueError, match="not after"):
        evolve(bank, passed("CNC-PROG"), bank.position, FIRST_LEARNER_EVENT_AT)


def test_the_same_pass_recorded_twice_is_refused() -> None:
    fund = passed("CNC-FUND")
    with pytest.raises(ValueError, match="recorded twice"):
        log_with(fund, fund).bank()


def test_a_pass_records_where_and_when_it_was_recorded() -> None:
    log = log_with(passed("CNC-FUND"))
    bank = log.bank()
    (held,) = bank.passes.values()
    assert (held.position, held.recorded_at) == (bank.position, log.now)
    assert bank.recorded_at == log.now


def test_shelf_life_ends_on_the_anniversary_of_the_assessment() -> None:
    fund = passed("CNC-FUND", assessed_on=dt.date(2020, 6, 15))
    held = log_with(fund).bank().passes[_key(fund)]
    assert held.expires_on == dt.date(2027, 6, 15)
    assert held.held_on(dt.date(2027, 6, 14))
    assert not held.held_on(dt.date(2027, 6, 15))


def test_a_leap_day_pass_expires_on_28_february() -> None:
    fund = passed(
        "CNC-FUND",
        assessed_on=dt.date(2024, 2, 29),
        snapshot=snapshot_of("CNC-FUND", validity_years=3),
    )
    assert log_with(fund).bank().passes[_key(fund)].expires_on == dt.date(2027, 2, 28)


def test_a_revoked_assessment_is_no_longer_held() -> None:
    fund = passed("CNC-FUND")
    held = log_with(fund, assessment_revoked(fund)).bank().passes[_key(fund)]
    assert held.revoked
    assert not held.held_on(dt.date(2026, 3, 5))


def test_revoking_an_unknown_assessment_is_refused() -> None:
    with pytest.raises(ValueError, match="has no pass"):
        log_with(assessment_revoked(passed("CNC-FUND"))).bank()


def test_redeemed_passes_are_debited() -> None:
    fund, prog = passes_of(["CNC-FUND", "CNC-PROG"])
    bank = log_with(fund, prog, credits_redeemed(fund)).bank()
    assert bank.passes[_key(fund)].redeemed
    assert not bank.passes[_key(prog)].redeemed


def test_a_pass_cannot_be_redeemed_twice() -> None:
    fund = passed("CNC-FUND")
    with pytest.raises(ValueError, match="cannot be redeemed"):
        log_with(fund, credits_redeemed(fund), credits_redeemed(fund)).bank()


def test_a_revoked_certificate_leaves_the_pass_held() -> None:
    fund = passed("CNC-FUND")
    log = log_with(fund, credential_issued(fund, "CERT-1"), credential_revoked(fund, "CERT-1"))
    held = log.bank().passes[_key(fund)]
    assert held.credential_ids == ("CERT-1",)
    assert held.credential_revoked
    assert held.held_on(dt.date(2026, 3, 5))


def test_a_reissued_certificate_clears_the_revocation() -> None:
    fund = passed("CNC-FUND")
    log = log_with(fund, credential_issued(fund, "CERT-1"), credential_revoked(fund, "CERT-1"))
    held = log.record(credential_issued(fund, "CERT-2")).bank().passes[_key(fund)]
    assert held.credential_ids == ("CERT-1", "CERT-2")
    assert not held.credential_revoked


def test_an_award_is_held_until_it_is_revoked() -> None:
    log = log_with(*passes_of(["CNC-FUND", "CNC-PROG"]))
    award = log.award(rule_of(cnc_operator()))
    held = log.bank().awards[award.award_id]
    assert (held.qualification_code, held.generation, held.revoked) == ("CNC-OPERATOR", 0, False)
    assert held.component_codes == ("CNC-FUND", "CNC-PROG")
    assert log.record(qualification_revoked(award)).bank().awards[award.award_id].revoked


def test_an_empty_bank_holds_nothing() -> None:
    bank = empty_bank("123456789012")
    assert (len(bank.passes), len(bank.awards), bank.position, bank.recorded_at) == (0, 0, 0, None)


# --- summary ------------------------------------------------------------------------------


def test_summary_counts_valid_hours_and_credits_per_level_and_sector() -> None:
    summary = summarize(
        log_with(*passes_of(ADV_CNC_COMPONENTS), passed("HOSP-CULT")).bank(), dt.date(2026, 4, 1)
    )
    assert dict(summary.hours_by_level) == {"3": 30, "4": 270, "4.5": 90}
    assert dict(summary.credits_by_level) == {"3": 1, "4": 9, "4.5": 3}
    assert dict(summary.hours_by_sector) == {"CAPITAL-GOODS": 360, "TOURISM-HOSPITALITY": 30}
    assert dict(summary.credits_by_sector) == {"CAPITAL-GOODS": 12, "TOURISM-HOSPITALITY": 1}
    assert (summary.total_hours, summary.total_credits) == (390, Fraction(13))


def test_summary_credit_points_are_credits_times_level_exactly() -> None:
    # 45 h at level 4.5 is 1.5 credits, 6.75 points; 30 h at level 3 is 3 points.
    half = passed("CNC-ADV", snapshot=snapshot_of("CNC-ADV", notional_hours=45))
    summary = summarize(log_with(half, passed("HOSP-CULT")).bank(), dt.date(2026, 4, 1))
    assert summary.credit_points == Fraction(27, 4) + 3


def test_summary_counts_each_micro_credential_once() -> None:
    older = passed("CNC-FUND", assessed_on=dt.date(2025, 1, 10))
    newer = passed("CNC-FUND", assessed_on=dt.date(2026, 1, 10))
    summary = summarize(log_with(older, newer).bank(), dt.date(2026, 4, 1))
    assert summary.total_hours == 60
    assert [p.key for p in summary.valid] == [_key(newer)]
    assert [p.key for p in summary.superseded] == [_key(older)]


def test_summary_lists_passes_expiring_within_twelve_months() -> None:
    soon = passed("CNC-FUND", assessed_on=dt.date(2019, 9, 1))  # expires 2026-09-01
    next_year = passed("CNC-PROG", assessed_on=dt.date(2020, 4, 1))  # expires 2027-04-01
    gone = passed("CNC-QC", assessed_on=dt.date(2019, 4, 1))  # expired 2026-04-01
    summary = summarize(log_with(soon, next_year, gone).bank(), dt.date(2026, 4, 1))
    assert [p.key for p in summary.expiring] == [_key(soon)]
    assert [p.key for p in summary.expired] == [_key(gone)]
    assert summary.total_hours == 150


def test_summary_lists_revoked_and_redeemed_passes_apart_from_valid_credits() -> None:
    fund, prog, adv = passes_of(["CNC-FUND", "CNC-PROG", "CNC-ADV"])
    bank = log_with(fund, prog, adv, assessment_revoked(fund), credits_redeemed(prog)).bank()
    summary = summarize(bank, dt.date(2026, 4, 1))
    assert [p.key for p in summary.revoked] == [_key(fund)]
    assert [p.key for p in summary.redeemed] == [_key(prog)]
    assert summary.total_hours == 90


def test_summary_lists_only_unrevoked_qualifications() -> None:
    log = log_with(*passes_of(["CNC-FUND", "CNC-PROG"]))
    first = log.award(rule_of(cnc_operator()))
    assert [a.award_id for a in summarize(log.bank(), dt.date(2026, 4, 1)).qualifications] == [
        first.award_id
    ]
    log.record(qualification_revoked(first))
    assert summarize(log.bank(), dt.date(2026, 4, 1)).qualifications == ()


def test_a_bank_folds_the_same_from_the_same_events() -> None:
    events = [*passes_of(ADV_CNC_COMPONENTS)]
    assert LearnerLog().record(*events).bank() == LearnerLog().record(*events).bank()
