"""The revocation cascade: what a revoked pass takes with it, lowest award first."""

from __future__ import annotations

import datetime as dt

from domain.catalog import Rule
from services.issuer.revocation import cascade, revocation_event_id
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    LearnerLog,
    assessment_revoked,
    cnc_master,
    cnc_operator,
    credential_issued,
    credential_revoked,
    credits_redeemed,
    demo_catalog,
    passed,
    passes_of,
    qualification_revoked,
)
from tests.support.issuer import history_of

CATALOG = demo_catalog(cnc_operator(), cnc_master(), later_from_position=500)


def rule(code: str) -> Rule:
    found = CATALOG.current_rule(code)
    assert found is not None
    return found


def test_revoking_a_component_revokes_the_award_with_a_deterministic_id() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS)
    log = LearnerLog().record(*passes)
    award = log.award(rule("ADV-CNC-MACHINING"))
    log.record(assessment_revoked(passes[4]))
    [revocation] = cascade(history_of(log), CATALOG)
    assert revocation.event.award_id == award.award_id
    assert revocation.event_id == revocation_event_id(award.award_id)
    assert "missing required CNC-QC" in revocation.event.reason
    assert cascade(history_of(log), CATALOG) == [revocation]  # same history, same events


def test_a_lower_award_goes_first_and_takes_the_higher_one_with_it() -> None:
    fund, prog, adv = passes_of(["CNC-FUND", "CNC-PROG", "CNC-ADV"])
    log = LearnerLog().record(fund, prog, adv)
    operator = log.award(rule("CNC-OPERATOR"))
    master = log.award(rule("CNC-MASTER"))
    log.record(assessment_revoked(prog))
    revocations = cascade(history_of(log), CATALOG)
    assert [r.event.award_id for r in revocations] == [operator.award_id, master.award_id]
    assert "CNC-OPERATOR" in revocations[1].event.reason


def test_an_award_that_did_not_count_the_revoked_pass_stays() -> None:
    fund, prog, adv = passes_of(["CNC-FUND", "CNC-PROG", "CNC-ADV"])
    log = LearnerLog().record(fund, prog, adv)
    operator = log.award(rule("CNC-OPERATOR"))
    master = log.award(rule("CNC-MASTER"))
    log.record(assessment_revoked(adv))  # only CNC-MASTER names CNC-ADV
    revocations = cascade(history_of(log), CATALOG)
    assert [r.event.award_id for r in revocations] == [master.award_id]
    assert operator.award_id not in {r.event.award_id for r in revocations}


def test_a_still_valid_alternative_pass_keeps_the_award() -> None:
    earlier_qc = passed("CNC-QC", assessed_on=dt.date(2026, 1, 10))
    passes = [*passes_of(ADV_CNC_COMPONENTS[:4]), earlier_qc]
    later_qc = passed("CNC-QC", assessed_on=dt.date(2026, 3, 1))
    log = LearnerLog().record(*passes, later_qc)
    award = log.award(rule("ADV-CNC-MACHINING"))
    assert later_qc.assessment_id in {c.pass_ref.assessment_id for c in award.components}
    log.record(assessment_revoked(later_qc))
    assert cascade(history_of(log), CATALOG) == []


def test_an_award_already_revoked_is_not_revoked_again() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS)
    log = LearnerLog().record(*passes)
    award = log.award(rule("ADV-CNC-MACHINING"))
    log.record(assessment_revoked(passes[0]), qualification_revoked(award))
    assert cascade(history_of(log), CATALOG) == []


def test_a_pass_redeemed_after_the_award_does_not_undo_it() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS)
    earlier_qc = passed("CNC-QC", assessed_on=dt.date(2026, 1, 10))
    log = LearnerLog().record(earlier_qc, *passes)
    log.award(rule("ADV-CNC-MACHINING"))
    log.record(credits_redeemed(passes[0]), assessment_revoked(passes[4]))
    # CNC-FUND was redeemed after the award, CNC-QC has a stand-in: the award holds.
    assert cascade(history_of(log), CATALOG) == []


def test_a_revoked_certificate_alone_changes_nothing_the_rules_count() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS)
    log = LearnerLog().record(*passes)
    log.award(rule("ADV-CNC-MACHINING"))
    log.record(credential_issued(passes[0], "CERT-1"), credential_revoked(passes[0], "CERT-1"))
    assert cascade(history_of(log), CATALOG) == []


def test_a_learner_without_awards_needs_nothing() -> None:
    passes = passes_of(ADV_CNC_COMPONENTS[:2])
    log = LearnerLog().record(*passes, assessment_revoked(passes[0]))
    assert cascade(history_of(log), CATALOG) == []
