"""A decision in words, for a learner's progress page or an auditor's report."""

from __future__ import annotations

from domain.decision import CountedComponent, Decision, NotCounted
from domain.units import credits_from_hours, display

_REASONS = {
    "expired": "its shelf life had ended",
    "revoked": "the assessment was revoked",
    "redeemed": "it was redeemed elsewhere",
    "below_level": "it is below the rule's minimum component level",
    "rpl_cap": "RPL credits are capped at the rule's share",
    "not_in_rule": "the rule does not name it",
    "superseded": "a later pass of the same code counts instead",
}


def explain(decision: Decision) -> list[str]:
    verdict = "satisfied" if decision.satisfied else "not satisfied"
    lines = [
        f"{decision.qualification_code} v{decision.rule_version} for learner "
        f"{decision.learner_id} on {decision.evaluated_on.isoformat()} "
        f"(bank at position {decision.bank_position}): {verdict}",
        f"credits: {display(decision.counted_credits)} counted of {decision.min_credits} "
        f"required ({decision.counted_hours} h; RPL {display(decision.rpl_credits_counted)}); "
        f"credit points {display(decision.credit_points)}",
    ]
    block = decision.award_block
    if block is not None:
        lines.append(
            f"no automatic award: award {block.award_id} was revoked as {block.reason_code} "
            f"at position {block.position} ({block.note or 'no note'}); "
            "an admin must lift the block (AwardBlockLifted) before it can be awarded again"
        )
    if decision.missing_required:
        lines.append(f"missing required: {', '.join(decision.missing_required)}")
    for group in decision.electives:
        lines.append(
            f"electives {', '.join(group.codes)}: {len(group.held)} of {group.min_count} held"
            + ("" if group.met else f", short by {group.short_by}")
        )
    lines.extend(_counted_line(c) for c in decision.counted)
    lines.extend(_not_counted_line(n) for n in decision.not_counted)
    return lines


def _counted_line(c: CountedComponent) -> str:
    via = f" via {c.via_qualification}" if c.via_qualification else ""
    of = f" of {c.hours}" if c.counted_hours < c.hours else ""
    return (
        f"counted {c.code} ({c.pass_key}, {c.mode}, level {c.level}): {c.counted_hours}{of} h = "
        f"{display(c.counted_credits)} credits{via}"
    )


def _not_counted_line(n: NotCounted) -> str:
    return (
        f"not counted {n.code} ({n.pass_key}): {n.hours} h = "
        f"{display(credits_from_hours(n.hours))} credits, because {_REASONS[n.reason]}"
    )
