"""JSON views of the pure core's answers: exact values as 'p/q' strings, plus rounded ones.

The projector's API, its stored read model and auditors' ``--json`` output all use these,
so every consumer sees the same shape. Pure: msgspec structs built from the core's values.
"""

from __future__ import annotations

import datetime as dt
import functools
from fractions import Fraction
from typing import Annotated

import msgspec

from domain.bank_summary import BankSummary
from domain.decision import Decision
from domain.explain import explain
from domain.holdings import HeldAward, Pass
from domain.units import display, exact_text, halves_to_level

RECORDED_BY = (
    "Null when folded from the learner's whole history; an institution's id when folded"
    " from only the events that institution recorded (what an institution key reads)."
)


class Amount(msgspec.Struct, frozen=True, kw_only=True):
    exact: str
    display: str


# Views show the same few amounts again and again (hours / 30, times a level), and an
# Amount is immutable: rendering each once is most of what a bank's view costs otherwise.
def amount(value: Fraction | int) -> Amount:
    if isinstance(value, int):
        return _amount(value, 1)
    return _amount(value.numerator, value.denominator)


# Remembered by numerator and denominator: a Fraction's own hash costs more than this.
@functools.lru_cache(maxsize=4096)
def _amount(numerator: int, denominator: int) -> Amount:
    fraction = Fraction(numerator, denominator)
    return Amount(exact=exact_text(fraction), display=display(fraction))


class PassView(msgspec.Struct, frozen=True, kw_only=True):
    institution_id: str
    assessment_id: str
    micro_credential_code: str
    mode: str
    level: str
    sector: str
    notional_hours: int
    credits: Amount
    assessed_on: dt.date
    expires_on: dt.date
    position: int


class QualificationView(msgspec.Struct, frozen=True, kw_only=True):
    award_id: str
    qualification_code: str
    qualification_version: int
    award_generation: int
    position: int


class BankView(msgspec.Struct, frozen=True, kw_only=True):
    learner_id: str
    on: dt.date
    position: int
    total_hours: int
    total_credits: Amount
    credit_points: Amount
    hours_by_level: dict[str, int]
    credits_by_level: dict[str, Amount]
    hours_by_sector: dict[str, int]
    credits_by_sector: dict[str, Amount]
    valid: list[PassView]
    expiring_within_12_months: list[PassView]
    expired: list[PassView]
    revoked: list[PassView]
    redeemed: list[PassView]
    qualifications: list[QualificationView]


class ComponentView(msgspec.Struct, frozen=True, kw_only=True):
    institution_id: str
    assessment_id: str
    micro_credential_code: str
    hours: int
    counted_hours: int
    level: str
    mode: str
    via_qualification: str | None


class NotCountedView(msgspec.Struct, frozen=True, kw_only=True):
    institution_id: str
    assessment_id: str
    micro_credential_code: str
    reason: str
    hours: int


class ElectiveView(msgspec.Struct, frozen=True, kw_only=True):
    codes: list[str]
    min_count: int
    held: list[str]
    short_by: int


class AwardBlockView(msgspec.Struct, frozen=True, kw_only=True):
    """Why no automatic award follows a satisfied rule: an admin's revocation, not lifted."""

    award_id: str
    reason_code: str
    note: str
    position: int


class DecisionView(msgspec.Struct, frozen=True, kw_only=True):
    learner_id: str
    qualification_code: str
    rule_version: int
    satisfied: bool
    evaluated_at: dt.datetime
    bank_position: int
    counted_hours: int
    counted_credits: Amount
    rpl_credits_counted: Amount
    min_credits: int
    credit_points: Amount
    missing_required: list[str]
    electives: list[ElectiveView]
    required_qualifications: list[str]
    counted: list[ComponentView]
    not_counted: list[NotCountedView]
    explanation: list[str]
    award_block: AwardBlockView | None = None
    recorded_by: Annotated[str | None, msgspec.Meta(description=RECORDED_BY)] = None


def pass_view(p: Pass) -> PassView:
    return PassView(
        institution_id=p.key.institution_id,
        assessment_id=p.key.assessment_id,
        micro_credential_code=p.code,
        mode=str(p.mode),
        level=halves_to_level(p.level_halves),
        sector=p.sector,
        notional_hours=p.notional_hours,
        credits=amount(Fraction(p.notional_hours, 30)),
        assessed_on=p.assessed_on,
        expires_on=p.expires_on,
        position=p.position,
    )


def _award_view(award: HeldAward) -> QualificationView:
    return QualificationView(
        award_id=award.award_id,
        qualification_code=award.qualification_code,
        qualification_version=award.qualification_version,
        award_generation=award.generation,
        position=award.position,
    )


def bank_view(summary: BankSummary) -> BankView:
    return BankView(
        learner_id=summary.learner_id,
        on=summary.on,
        position=summary.position,
        total_hours=summary.total_hours,
        total_credits=amount(summary.total_credits),
        credit_points=amount(summary.credit_points),
        hours_by_level=dict(summary.hours_by_level),
        credits_by_level={k: amount(v) for k, v in summary.credits_by_level.items()},
        hours_by_sector=dict(summary.hours_by_sector),
        credits_by_sector={k: amount(v) for k, v in summary.credits_by_sector.items()},
        valid=[pass_view(p) for p in summary.valid],
        expiring_within_12_months=[pass_view(p) for p in summary.expiring],
        expired=[pass_view(p) for p in summary.expired],
        revoked=[pass_view(p) for p in summary.revoked],
        redeemed=[pass_view(p) for p in summary.redeemed],
        qualifications=[_award_view(a) for a in summary.qualifications],
    )


def decision_view(decision: Decision, recorded_by: str | None = None) -> DecisionView:
    """``recorded_by``: the institution whose events alone the decision was folded from."""
    return DecisionView(
        recorded_by=recorded_by,
        learner_id=decision.learner_id,
        qualification_code=decision.qualification_code,
        rule_version=decision.rule_version,
        satisfied=decision.satisfied,
        evaluated_at=decision.evaluated_at,
        bank_position=decision.bank_position,
        counted_hours=decision.counted_hours,
        counted_credits=amount(decision.counted_credits),
        rpl_credits_counted=amount(decision.rpl_credits_counted),
        min_credits=decision.min_credits,
        credit_points=amount(decision.credit_points),
        missing_required=list(decision.missing_required),
        electives=[
            ElectiveView(
                codes=list(e.codes), min_count=e.min_count, held=list(e.held), short_by=e.short_by
            )
            for e in decision.electives
        ],
        required_qualifications=list(decision.required_qualifications),
        counted=[
            ComponentView(
                institution_id=c.pass_key.institution_id,
                assessment_id=c.pass_key.assessment_id,
                micro_credential_code=c.code,
                hours=c.hours,
                counted_hours=c.counted_hours,
                level=halves_to_level(c.level_halves),
                mode=str(c.mode),
                via_qualification=c.via_qualification,
            )
            for c in decision.counted
        ],
        not_counted=[
            NotCountedView(
                institution_id=n.pass_key.institution_id,
                assessment_id=n.pass_key.assessment_id,
                micro_credential_code=n.code,
                reason=n.reason,
                hours=n.hours,
            )
            for n in decision.not_counted
        ],
        explanation=explain(decision),
        award_block=None
        if decision.award_block is None
        else AwardBlockView(
            award_id=decision.award_block.award_id,
            reason_code=decision.award_block.reason_code,
            note=decision.award_block.note,
            position=decision.award_block.position,
        ),
    )


class LearnerBank(msgspec.Struct, frozen=True, kw_only=True):
    as_of_position: int
    as_of_time: dt.datetime
    credit_bank: BankView
    progress: list[DecisionView]
    recorded_by: Annotated[str | None, msgspec.Meta(description=RECORDED_BY)] = None
    as_of_date: Annotated[
        dt.date | None,
        msgspec.Meta(
            description=(
                "The day asked for with as_of_date: passes assessed on or before it, as the"
                " ledger knows them at as_of_position (null for the other axis)."
            )
        ),
    ] = None
