"""Whether to award a qualification: a pure decision over the learner's history (DESIGN §5).

The threshold message that triggers it is only a hint: the decision re-reads the learner's
whole stream and evaluates the rule in force at the stream's latest position, as of that
event's time, with the shared core. The award it asks for has the deterministic id of
``domain.awards.award_id`` and expects the stream version it was decided on, so every
replica that decides on the same history asks for byte-identical content (the ledger
answers a repeat as a duplicate), and one that decided on an older history gets a conflict
and decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.awards import award_event, award_generation
from domain.catalog import Catalog
from domain.decision import Decision
from domain.explain import explain
from domain.rules import evaluate
from proto import events as ev
from services.issuer.history import LearnerHistory

SkipReason = Literal["no_history", "no_rule_in_force", "already_awarded", "not_satisfied"]


@dataclass(frozen=True, slots=True)
class AppendAward:
    event: ev.QualificationAwarded
    expected_version: int
    decision: Decision

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


AwardDecision = AppendAward | SkipAward


def decide_award(
    history: LearnerHistory, catalog: Catalog, qualification_code: str
) -> AwardDecision:
    if not history.events:
        return SkipAward("no_history", f"learner {history.learner_id} has no events")
    bank = history.bank()
    position = bank.position
    held = bank.held_award(qualification_code)
    if held is not None:
        return SkipAward(
            "already_awarded",
            f"award {held.award_id} (generation {held.generation}) is held and not revoked",
            award_id=held.award_id,
            decided_at_position=position,
        )
    rule = catalog.rule_in_force(qualification_code, position)
    if rule is None:
        return SkipAward(
            "no_rule_in_force",
            f"no version of {qualification_code} was recorded by position {position}",
            decided_at_position=position,
        )
    at = bank.recorded_at
    if at is None:
        raise ValueError(f"the bank of {history.learner_id} has events but no event time")
    decision = evaluate(rule, bank, at)
    if not decision.satisfied:
        return SkipAward(
            "not_satisfied", "; ".join(explain(decision)), decided_at_position=position
        )
    event = award_event(decision, award_generation(bank, qualification_code), position)
    return AppendAward(event=event, expected_version=history.version, decision=decision)
