"""What one institution recorded of a learner's history (domain.recorded_by): its own
events, with its redemptions of other institutions' passes trimmed, so that its view folds
(the projector answers an institution key with this fold)."""

from __future__ import annotations

from domain.credit_bank import fold
from domain.recorded_by import recorded_by
from tests.support.domain_examples import LEARNER, credits_redeemed, log_with, passed

NSTI, ATI = "NSTI-CHENNAI", "ATI-MUMBAI"


def test_an_institution_sees_only_the_events_it_recorded() -> None:
    fund = passed("CNC-FUND", institution_id=NSTI)
    advanced = passed("CNC-ADV", institution_id=ATI)
    log = log_with(fund, advanced)
    assert [event for event, _, _ in recorded_by(log.entries, NSTI)] == [fund]
    assert [event for event, _, _ in recorded_by(log.entries, ATI)] == [advanced]
    assert recorded_by(log.entries, "IHM-GOA") == []


def test_a_redemption_keeps_only_the_institutions_own_passes_and_its_view_folds() -> None:
    fund = passed("CNC-FUND", institution_id=NSTI)
    advanced = passed("CNC-ADV", institution_id=ATI)
    # ATI redeems its own pass and NSTI's: the learner takes both towards ATI's programme.
    log = log_with(fund, advanced, credits_redeemed(fund, advanced))

    ati = recorded_by(log.entries, ATI)
    redemption = ati[-1][0]
    assert [p.institution_id for p in redemption.passes] == [ATI]  # type: ignore[attr-defined]
    bank = fold(LEARNER, ati)
    assert [p.redeemed for p in bank.passes.values()] == [True]

    # NSTI recorded no redemption: in its view its pass is still held.
    nsti = fold(LEARNER, recorded_by(log.entries, NSTI))
    assert [p.redeemed for p in nsti.passes.values()] == [False]
    # The whole history, as an auditor folds it, has both redeemed.
    assert all(p.redeemed for p in log.bank().passes.values())


def test_a_redemption_of_other_institutions_passes_only_is_left_out() -> None:
    fund = passed("CNC-FUND", institution_id=NSTI)
    log = log_with(fund, credits_redeemed(fund))  # by ATI
    assert recorded_by(log.entries, ATI) == []
