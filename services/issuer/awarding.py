"""Whether to award a qualification: a pure decision over the learner's history (docs/architecture.md §5).

The threshold message that triggers it is only a hint: the decision re-reads the learner's
whole stream and evaluates the current version of the rule (the one in force when the
award is appended, which the ledger re-checks), as of the stream's last event's time, with
the shared core (``domain.award_check``). The award it asks for has the deterministic id of
``domain.awards.award_id`` and expects the stream version it was decided on, so every
replica that decides on the same history asks for byte-identical content (the ledger
answers a repeat as a duplicate), and one that decided on an older history gets a conflict
and decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.award_check import NoAward, award_for
from domain.catalog import Catalog
from domain.decision import Decision
from proto import events as ev
from services.issuer.history import LearnerHistory

SkipReason = Literal[
    "no_history", "no_rule_in_force", "already_awarded", "award_blocked", "not_satisfied"
]


@dataclass(frozen=True, slots=True)
class AppendAward:
    event: ev.QualificationAwarded
    expected_version: int

    @property
    def event_id(self) -> str:
        # The award id is the event id: one award, however many times it is asked for.
        return self.event.award_id


@dataclass(frozen=True, slots=True)
class SkipAward:
    reason: SkipReason
    detail: str
    award_id: str | None = None
    decided_at_position: int = 0
    decision: Decision | None = None


AwardDecision = AppendAward | SkipAward


def decide_award(
    history: LearnerHistory, catalog: Catalog, qualification_code: str
) -> AwardDecision:
    """What to append for the learner now, judged exactly as the ledger will re-judge it:
    the rule version current at the append, the whole stream, as of its last event."""
    if not history.events:
        return SkipAward("no_history", f"learner {history.learner_id} has no events")
    bank = history.bank()
    position = bank.position
    rule = catalog.current_rule(qualification_code)
    if rule is None:
        return SkipAward(
            "no_rule_in_force",
            f"no version of {qualification_code} is recorded",
            decided_at_position=position,
        )
    award = award_for(rule, bank)
    if isinstance(award, NoAward):
        return SkipAward(
            _skip_reason(award.reason),
            award.detail,
            award_id=award.award_id,
            decided_at_position=position,
            decision=award.decision,
        )
    return AppendAward(event=award, expected_version=history.version)


def _skip_reason(reason: str) -> SkipReason:
    match reason:
        case "no_history" | "already_awarded" | "award_blocked" | "not_satisfied":
            return reason
    raise ValueError(f"unknown reason {reason!r}")
