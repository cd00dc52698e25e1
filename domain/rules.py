"""Stacking rules (docs/architecture.md §1): does a learner's bank satisfy a qualification, and why.

``evaluate`` is a pure function of the rule version, the bank and the event time ``at``;
the projector, the issuer and an auditor's replay call it alike and cannot disagree.
Shelf life is judged on the UTC day of ``at``, never on the wall clock.

How credits are chosen, in order:

1. A pass is a candidate if its code is named by the rule (required or an elective
   group), or if it is a component of a held award of a qualification the rule names.
   A component of such an award counts only while the pass itself is held: redeemed,
   revoked and expired credits never count towards a new award, even inside an award.
2. Candidates that are revoked, redeemed, expired or below ``min_component_level`` drop
   out (in that order of reasons).
3. Each code counts once: its latest remaining pass by assessment date, then position.
   A code named directly is counted as such even if a lower award also contains it.
4. RPL hours count towards ``min_credits`` up to floor(max_rpl_share x min_credits x 30)
   hours. The earliest RPL passes keep their hours; the latest are cut first, fully or
   partly. A cut pass still satisfies the requirement it names.

``min_component_level`` applies to micro-credential passes, those inside a lower award
included; a lower award itself is held whatever its level (the log records no level for
an award, and its credits are judged pass by pass).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from domain.awards import AWARD_NAMESPACE, award_event, award_generation, award_id
from domain.catalog import ElectiveRule, Rule
from domain.decision import (
    CountedComponent,
    Decision,
    ElectiveProgress,
    NotCounted,
    NotCountedReason,
)
from domain.explain import explain
from domain.holdings import CreditBank, HeldAward, Pass, PassKey
from domain.shelf_life import utc_day
from domain.units import HOURS_PER_CREDIT, credits_from_hours, total_credit_points
from proto.events import AssessmentMode

# A chosen pass and the lower qualification it came with (None: named by the rule).
Chosen = tuple[Pass, str | None]


def evaluate(rule: Rule, bank: CreditBank, at: dt.datetime) -> Decision:
    day = utc_day(at)
    awards = _named_awards(rule, bank)
    chosen, left_out = _choose(rule, bank, day, _via(bank, awards))
    counted, cuts = _cap_rpl(rule, chosen)
    held = {c.code for c in counted if c.via_qualification is None} | set(awards)
    missing = tuple(code for code in rule.required if code not in held)
    electives = tuple(_progress(group, held) for group in rule.electives)
    counted_hours = sum(c.counted_hours for c in counted)
    rpl_hours = sum(c.counted_hours for c in counted if c.mode == AssessmentMode.RPL)
    counted_credits = credits_from_hours(counted_hours)
    return Decision(
        learner_id=bank.learner_id,
        qualification_code=rule.code,
        rule_version=rule.version,
        evaluated_at=at,
        evaluated_on=day,
        bank_position=bank.position,
        satisfied=not missing
        and all(e.met for e in electives)
        and counted_credits >= rule.min_credits,
        counted=counted,
        not_counted=_in_log_order(bank, [*left_out, *cuts]),
        counted_hours=counted_hours,
        counted_credits=counted_credits,
        rpl_credits_counted=credits_from_hours(rpl_hours),
        min_credits=rule.min_credits,
        missing_required=missing,
        electives=electives,
        required_qualifications=tuple(code for code in rule.named_codes if code in awards),
        credit_points=total_credit_points((c.counted_hours, c.level_halves) for c in counted),
        award_block=bank.award_blocks.get(rule.code),
    )


def _named_awards(rule: Rule, bank: CreditBank) -> dict[str, HeldAward]:
    """The latest unrevoked award of each qualification the rule names."""
    found = {code: bank.held_award(code) for code in rule.named_codes}
    return {code: award for code, award in found.items() if award is not None}


def _via(bank: CreditBank, awards: Mapping[str, HeldAward]) -> dict[PassKey, str]:
    """Each component pass of a named award, with the (first named) award's code."""
    via: dict[PassKey, str] = {}
    for code, award in awards.items():
        for key in award.components:
            if key not in bank.passes:
                raise ValueError(f"award {award.award_id} names unknown pass {key}")
            via.setdefault(key, code)
    return via


def _choose(
    rule: Rule, bank: CreditBank, day: dt.date, via: Mapping[PassKey, str]
) -> tuple[list[Chosen], list[NotCounted]]:
    """Steps 1-3: at most one pass per code, and why every other pass is left out."""
    named = set(rule.named_codes)
    candidates: dict[str, list[Chosen]] = {}
    left_out: list[NotCounted] = []
    for p in bank.passes_by_position():
        direct = p.code in named
        reason: NotCountedReason | None = (
            "not_in_rule" if not direct and p.key not in via else _unheld(rule, p, day)
        )
        if reason is not None:
            left_out.append(NotCounted(p.key, p.code, reason, p.notional_hours))
            continue
        candidates.setdefault(p.code, []).append((p, None if direct else via[p.key]))
    chosen: list[Chosen] = []
    for same_code in candidates.values():
        latest = max(same_code, key=lambda c: c[0].recency)
        chosen.append(latest)
        left_out.extend(
            NotCounted(p.key, p.code, "superseded", p.notional_hours)
            for p, _ in same_code
            if p is not latest[0]
        )
    return chosen, left_out


def _unheld(rule: Rule, p: Pass, day: dt.date) -> NotCountedReason | None:
    if p.revoked:
        return "revoked"
    if p.redeemed:
        return "redeemed"
    if not p.held_on(day):
        return "expired"
    floor = rule.min_component_level_halves
    if floor is not None and p.level_halves < floor:
        return "below_level"
    return None


def _cap_rpl(
    rule: Rule, chosen: list[Chosen]
) -> tuple[tuple[CountedComponent, ...], list[NotCounted]]:
    """Step 4: cut the latest RPL hours beyond the rule's share of min_credits."""
    granted = _rpl_grants(rule, [p for p, _ in chosen if p.mode == AssessmentMode.RPL])
    counted = tuple(
        CountedComponent(
            pass_key=p.key,
            code=p.code,
            hours=p.notional_hours,
            counted_hours=granted.get(p.key, p.notional_hours),
            level_halves=p.level_halves,
            mode=p.mode,
            via_qualification=via,
        )
        for p, via in sorted(chosen, key=lambda c: c[0].code)
    )
    cuts = [
        NotCounted(c.pass_key, c.code, "rpl_cap", c.hours - c.counted_hours)
        for c in counted
        if c.counted_hours < c.hours
    ]
    return counted, cuts


def _rpl_grants(rule: Rule, rpl: list[Pass]) -> dict[PassKey, int]:
    """Hours each RPL pass may count, earliest first; empty when the rule sets no cap."""
    allowance = _rpl_allowance_hours(rule)
    if allowance is None:
        return {}
    granted: dict[PassKey, int] = {}
    for p in sorted(rpl, key=lambda p: p.recency):
        granted[p.key] = min(p.notional_hours, allowance)
        allowance -= granted[p.key]
    return granted


def _rpl_allowance_hours(rule: Rule) -> int | None:
    """Whole hours of RPL that may count; rounded down so the share is never exceeded."""
    if rule.max_rpl_share is None:
        return None
    return math.floor(rule.max_rpl_share * rule.min_credits * HOURS_PER_CREDIT)


def _progress(group: ElectiveRule, held: set[str]) -> ElectiveProgress:
    have = tuple(code for code in dict.fromkeys(group.codes) if code in held)
    return ElectiveProgress(
        codes=group.codes,
        min_count=group.min_count,
        held=have,
        short_by=max(0, group.min_count - len(have)),
    )


def _in_log_order(bank: CreditBank, items: list[NotCounted]) -> tuple[NotCounted, ...]:
    return tuple(sorted(items, key=lambda n: (bank.passes[n.pass_key].position, n.reason)))


__all__ = [
    "AWARD_NAMESPACE",
    "CountedComponent",
    "Decision",
    "ElectiveProgress",
    "NotCounted",
    "NotCountedReason",
    "award_event",
    "award_generation",
    "award_id",
    "evaluate",
    "explain",
]
