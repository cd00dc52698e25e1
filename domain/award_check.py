"""Whether an award holds: the one judgement the issuer makes and the ledger re-checks.

``award_for`` says which award, if any, a learner's bank justifies under a rule; the issuer
appends what it returns. ``award_objection`` compares a claimed ``QualificationAwarded``
with it, field by field; the ledger refuses any claim with an objection, so no key can
append an award that the log does not support. ``reevaluate_award`` judges an existing
award again for a ``rule_no_longer_holds`` revocation.

The basis is fixed by the claim: the learner's bank up to the award's ``expected_version``
(the ledger enforces that it is the whole stream), evaluated as of the ``recorded_at`` of
that bank's last event (``decided_at_position``), under the rule version current when the
award is appended. An objection is ``stale`` when the claimant decided on a basis that has
since moved (a newer rule, an award already appended): re-reading and deciding again may
give a different answer. Every other objection is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import msgspec.structs

from domain.awards import award_event, award_generation
from domain.catalog import Rule
from domain.decision import Decision
from domain.explain import explain
from domain.holdings import CreditBank, HeldAward
from domain.rules import evaluate
from proto import events as ev


@dataclass(frozen=True, slots=True)
class NoAward:
    """Why the bank justifies no award now."""

    reason: str  # "no_history", "already_awarded", "award_blocked", "not_satisfied"
    detail: str
    decision: Decision | None = None
    award_id: str | None = None


@dataclass(frozen=True, slots=True)
class AwardObjection:
    code: str  # stable, for clients: "award_not_satisfied", "duplicate_award", ...
    detail: str
    stale: bool  # the basis moved on: re-read and decide again (409); else final (422)


def award_for(rule: Rule, bank: CreditBank) -> ev.QualificationAwarded | NoAward:
    """The award the bank justifies under ``rule`` as of its last event, or why none."""
    at = bank.recorded_at
    if at is None:
        return NoAward("no_history", f"learner {bank.learner_id} has no events")
    held = bank.held_award(rule.code)
    if held is not None:
        return NoAward(
            "already_awarded",
            f"award {held.award_id} (generation {held.generation}) is held and not revoked",
            award_id=held.award_id,
        )
    decision = evaluate(rule, bank, at)
    if decision.award_block is not None:
        return NoAward("award_blocked", "; ".join(explain(decision)), decision)
    if not decision.satisfied:
        return NoAward("not_satisfied", "; ".join(explain(decision)), decision)
    return award_event(decision, award_generation(bank, rule.code), bank.position)


def award_objection(
    claimed: ev.QualificationAwarded, rule: Rule, bank: CreditBank
) -> AwardObjection | None:
    """What is wrong with ``claimed`` given the current ``rule`` and the learner's bank."""
    code = claimed.qualification_code
    if claimed.learner_id != bank.learner_id or code != rule.code:
        raise ValueError("the claim, the rule and the bank must be of one learner and code")
    if claimed.qualification_version < rule.version:
        return AwardObjection(
            "rule_version_superseded",
            f"{code} v{rule.version} is in force; the award was decided under "
            f"v{claimed.qualification_version}",
            stale=True,
        )
    if claimed.qualification_version > rule.version:
        return AwardObjection(
            "unknown_qualification_version",
            f"qualification {code} has no version {claimed.qualification_version}",
            stale=False,
        )
    generation = award_generation(bank, code)
    if claimed.award_generation < generation:
        return AwardObjection(
            "duplicate_award",
            f"learner {bank.learner_id} already had award generation "
            f"{claimed.award_generation} of {code}",
            stale=True,
        )
    held = bank.held_award(code)
    if held is not None:
        return AwardObjection(
            "duplicate_award",
            f"award {held.award_id} (generation {held.generation}) of {code} is held",
            stale=True,
        )
    if claimed.decided_at_position != bank.position:
        return AwardObjection(
            "wrong_decided_at_position",
            f"the learner's stream up to the expected version ends at position "
            f"{bank.position}, not {claimed.decided_at_position}",
            stale=False,
        )
    expected = award_for(rule, bank)
    if isinstance(expected, NoAward):
        return _no_award_objection(expected)
    if claimed.award_generation > generation:
        return AwardObjection(
            "wrong_award_generation",
            f"the next award of {code} for this learner is generation {generation}, "
            f"not {claimed.award_generation}",
            stale=False,
        )
    deterministic = expected.award_id  # award_id(learner, code, version, generation)
    if claimed.award_id != deterministic:
        return AwardObjection(
            "award_id_not_deterministic",
            f"the award id must be {deterministic} (UUID v5 of learner, qualification, "
            "version and generation)",
            stale=False,
        )
    return _field_objection(claimed, expected)


def _no_award_objection(reason: NoAward) -> AwardObjection:
    if reason.reason == "already_awarded":
        return AwardObjection("duplicate_award", reason.detail, stale=True)
    if reason.reason == "award_blocked":
        return AwardObjection("award_blocked", reason.detail, stale=False)
    return AwardObjection("award_not_satisfied", reason.detail, stale=False)


# The fields a claim must carry exactly as the core computes them, and their refusal codes.
_COMPUTED_FIELDS = (
    ("components", "award_components_mismatch"),
    ("required_qualifications", "award_required_qualifications_mismatch"),
    ("counted_hours", "award_counted_hours_mismatch"),
    ("credit_points", "award_credit_points_mismatch"),
)


def _field_objection(
    claimed: ev.QualificationAwarded, expected: ev.QualificationAwarded
) -> AwardObjection | None:
    for name, code in _COMPUTED_FIELDS:
        got, want = getattr(claimed, name), getattr(expected, name)
        if got != want:
            return AwardObjection(
                code, f"{name} differs from what the rule computes: expected {want!r}", False
            )
    return None


def reevaluate_award(rule: Rule, bank: CreditBank, award: HeldAward) -> Decision:
    """Does ``award`` still hold with what the learner holds now, judged at its own time?

    The award's time, not today: a component's shelf life ending after the award does not
    undo it. Passes redeemed after the award count again, since a redemption only stops a
    pass from counting towards a *new* award.
    """
    if rule.code != award.qualification_code or rule.version != award.qualification_version:
        raise ValueError(
            f"award {award.award_id} is of {award.qualification_code} "
            f"v{award.qualification_version}, not {rule.code} v{rule.version}"
        )
    if award.recorded_at is None:
        raise ValueError(f"award {award.award_id} has no event time")
    return evaluate(rule, _unredeemed_after(bank, award.position), award.recorded_at)


def _unredeemed_after(bank: CreditBank, position: int) -> CreditBank:
    later = {
        key
        for key, p in bank.passes.items()
        if p.redeemed and p.redeemed_position is not None and p.redeemed_position > position
    }
    if not later:
        return bank
    passes = {
        key: msgspec.structs.replace(p, redeemed=False, redeemed_position=None)
        if key in later
        else p
        for key, p in bank.passes.items()
    }
    return msgspec.structs.replace(bank, passes=MappingProxyType(passes))
