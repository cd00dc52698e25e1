"""A stored bank snapshot is the bank exactly, mappings in their folding order."""

from __future__ import annotations

import pytest

from domain.credit_bank import evolve
from domain.holdings import CreditBank, empty_bank
from services.projector.bank_snapshot import decode_bank, encode_bank
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    LEARNER,
    assessment_revoked,
    credential_issued,
    credits_redeemed,
    demo_rule,
    log_with,
    passed,
    passes_of,
    qualification_revoked,
    rpl_passed,
)


def _banks() -> dict[str, CreditBank]:
    awarded = log_with(*passes_of(ADV_CNC_COMPONENTS))
    award = awarded.award(demo_rule("ADV-CNC-MACHINING"))
    revoked = log_with(*passes_of(ADV_CNC_COMPONENTS))
    fraud = qualification_revoked(
        revoked.award(demo_rule("ADV-CNC-MACHINING")), "fraud", note="forged"
    )
    revoked.record(fraud)
    first = passed("HOSP-FUND")
    mixed = log_with(first, rpl_passed("HOSP-CUST"), credential_issued(first, "CRED-1"))
    mixed.record(assessment_revoked(first))
    redeemed_pass = passed("CNC-FUND")
    redeemed = log_with(redeemed_pass, passed("CNC-PROG"), credits_redeemed(redeemed_pass))
    assert award.learner_id == LEARNER
    return {
        "empty": empty_bank(LEARNER),
        "awarded": awarded.bank(),
        "blocked after a fraud revocation": revoked.bank(),
        "rpl, credential, revocation": mixed.bank(),
        "redeemed": redeemed.bank(),
    }


@pytest.mark.parametrize("name", list(_banks()))
def test_a_snapshot_reads_back_as_the_same_bank(name: str) -> None:
    bank = _banks()[name]
    again = decode_bank(encode_bank(bank))
    assert again == bank
    assert list(again.passes) == list(bank.passes)
    assert list(again.awards) == list(bank.awards)
    assert list(again.award_blocks) == list(bank.award_blocks)
    assert encode_bank(again) == encode_bank(bank)  # the stored bytes are stable


def test_a_bank_read_back_folds_on_like_the_original() -> None:
    log = log_with(*passes_of(ADV_CNC_COMPONENTS[:3]))
    bank = log.bank()
    event = passed("CNC-MAINT")
    position, at = bank.position + 1, log.now
    assert evolve(decode_bank(encode_bank(bank)), event, position, at) == evolve(
        bank, event, position, at
    )
