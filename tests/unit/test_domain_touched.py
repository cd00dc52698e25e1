"""``domain.touched``: after an event, only the rules it can have changed are judged again."""

from __future__ import annotations

from domain.catalog import Catalog
from domain.credit_bank import evolve
from domain.holdings import CreditBank
from domain.replay import relevant_codes
from domain.touched import touched_codes, touched_rules
from proto import events as ev
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    FIRST_LEARNER_EVENT_AT,
    FIRST_LEARNER_POSITION,
    assessment_revoked,
    award_block_lifted,
    cnc_master,
    cnc_operator,
    demo_catalog,
    demo_rule,
    log_with,
    passed,
    passes_of,
    qualification_revoked,
)

NEXT_POSITION = 9000  # after every example's events and catalog


def judged_after(bank: CreditBank, event: ev.Event, catalog: Catalog) -> list[str]:
    """The qualifications judged again when ``event`` is folded into ``bank``."""
    after = evolve(bank, event, NEXT_POSITION, FIRST_LEARNER_EVENT_AT)
    rules = touched_rules(catalog, relevant_codes(catalog, after), bank, after, NEXT_POSITION)
    return [rule.code for rule in rules]


def test_a_pass_touches_only_the_rules_that_name_its_code() -> None:
    catalog = demo_catalog()
    bank = log_with(passed("CNC-FUND"), passed("HOSP-FUND")).bank()
    assert relevant_codes(catalog, bank) == {"ADV-CNC-MACHINING", "GUEST-EXPERIENCE"}
    assert judged_after(bank, passed("CNC-PROG"), catalog) == ["ADV-CNC-MACHINING"]


def test_a_revoked_component_of_a_held_award_touches_the_rules_naming_the_award() -> None:
    catalog = demo_catalog(cnc_operator(), cnc_master())
    fund, prog = passed("CNC-FUND"), passed("CNC-PROG")
    log = log_with(fund, prog, passed("HOSP-FUND"))
    operator = catalog.current_rule("CNC-OPERATOR")
    assert operator is not None
    log.award(operator)
    bank = log.bank()
    touched = touched_codes(bank, evolve(bank, assessment_revoked(prog), NEXT_POSITION, log.now))
    # CNC-PROG's own rules, and through the award, those naming CNC-OPERATOR.
    assert touched == {"CNC-PROG", "CNC-OPERATOR"}
    judged = judged_after(bank, assessment_revoked(prog), catalog)
    assert "CNC-MASTER" in judged  # names CNC-OPERATOR, not CNC-PROG
    assert "GUEST-EXPERIENCE" not in judged


def test_a_rule_version_recorded_since_the_learners_last_event_is_judged_at_the_next() -> None:
    log = log_with(passed("CNC-FUND"), passed("HOSP-FUND"))
    bank = log.bank()
    # CNC-OPERATOR is defined after the learner's last event and names CNC-FUND: nothing
    # the next event does touches it, but the learner was never judged by it.
    catalog = demo_catalog(cnc_operator(), later_from_position=FIRST_LEARNER_POSITION + 10)
    assert judged_after(bank, passed("HOSP-CUST"), catalog) == ["CNC-OPERATOR", "GUEST-EXPERIENCE"]


def test_a_lifted_block_touches_its_own_qualification() -> None:
    rule = demo_rule("ADV-CNC-MACHINING")
    log = log_with(*passes_of(ADV_CNC_COMPONENTS), passed("HOSP-FUND"))
    award = log.award(rule)
    log.record(qualification_revoked(award, reason_code="fraud", note="forged record"))
    bank = log.bank()
    assert "ADV-CNC-MACHINING" in bank.award_blocks
    judged = judged_after(bank, award_block_lifted("ADV-CNC-MACHINING"), demo_catalog())
    assert judged == ["ADV-CNC-MACHINING"]


def test_a_certificate_touches_its_pass_and_no_event_touches_nothing() -> None:
    fund = passed("CNC-FUND")
    bank = log_with(fund).bank()
    credential = ev.CredentialIssued(
        learner_id=fund.learner_id,
        institution_id=fund.institution_id,
        assessment_id=fund.assessment_id,
        micro_credential_code="CNC-FUND",
        credential_id="CERT-1",
        issued_on=fund.assessed_on,
    )
    # A certificate changes the pass's record (so its code is touched), nothing else.
    assert touched_codes(bank, evolve(bank, credential, NEXT_POSITION, FIRST_LEARNER_EVENT_AT)) == {
        "CNC-FUND"
    }
    assert touched_codes(bank, bank) == set()
