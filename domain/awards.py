"""Deterministic awards (docs/architecture.md §5): the same eligibility always yields the same award id.

Any number of issuer replicas, retries and redeliveries compute the same id and so append
one award. The id is a UUID v5 under ``AWARD_NAMESPACE`` of the name

    "<learner_id>/<qualification_code>/<rule_version>/<generation>"

(decimal integers, no padding; none of the parts can contain "/"), where ``generation``
counts the awards of that qualification the learner has had before, revoked ones
included: after a revocation, renewed eligibility is a new award, not a duplicate.
An auditor can recompute it in any language with a standard UUID v5 function.
"""

from __future__ import annotations

import uuid

from domain.decision import Decision
from domain.holdings import CreditBank
from domain.units import exact_text
from proto import events as ev

# Fixed for ever: changing it would re-key every award ever made.
AWARD_NAMESPACE = uuid.UUID("ac998eaa-db70-46f7-9cbe-8ec8af72b309")


def award_generation(bank: CreditBank, qualification_code: str) -> int:
    """How many awards of the qualification the learner has ever had, revoked included."""
    return len(bank.awards_of(qualification_code))


def award_id(learner_id: str, qualification_code: str, rule_version: int, generation: int) -> str:
    for part in (learner_id, qualification_code):
        if not part or "/" in part:
            raise ValueError(f"{part!r} cannot be part of an award id")
    if rule_version < 1 or generation < 0:
        raise ValueError(f"no award has version {rule_version} and generation {generation}")
    name = f"{learner_id}/{qualification_code}/{rule_version}/{generation}"
    return str(uuid.uuid5(AWARD_NAMESPACE, name))


def award_event(
    decision: Decision, generation: int, decided_at_position: int
) -> ev.QualificationAwarded:
    """The award a satisfied decision justifies.

    Its components are every counted pass, those that came with a lower qualification
    included, so components are transitive: a higher award built on this one finds all
    its credits here, and revoking any pass reaches every award that relied on it.
    """
    if not decision.satisfied:
        raise ValueError(f"{decision.qualification_code} is not satisfied; nothing to award")
    return ev.QualificationAwarded(
        award_id=award_id(
            decision.learner_id, decision.qualification_code, decision.rule_version, generation
        ),
        learner_id=decision.learner_id,
        qualification_code=decision.qualification_code,
        qualification_version=decision.rule_version,
        award_generation=generation,
        components=[
            ev.AwardComponent(
                micro_credential_code=c.code,
                pass_ref=ev.PassRef(
                    institution_id=c.pass_key.institution_id,
                    assessment_id=c.pass_key.assessment_id,
                ),
                notional_hours=c.hours,
                level=c.level,
                mode=c.mode,
            )
            for c in decision.counted
        ],
        required_qualifications=list(decision.required_qualifications),
        counted_hours=decision.counted_hours,
        credit_points=exact_text(decision.credit_points),
        decided_at_position=decided_at_position,
    )
