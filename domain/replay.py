"""The read core: a learner replayed as of a log position, the one answer every reader gives.

The projector's as-of queries, its live fold, the auditor's ``audit replay`` and the
issuer all read a learner through these functions, so their answers cannot drift:

- ``catalog_as_of`` / ``bank_as_of``: the catalog and one learner's bank folded from
  (event, position, recorded_at) triples up to a position;
- ``relevant_decisions``: which rules to evaluate for a bank at a position (every
  qualification whose rule, in force there, names something the learner holds);
- ``last_decisions``: what the live fold's progress rows hold after a learner's events
  (each rule as of the last event that touched it, ``domain.touched``), with each rule
  evaluated once (a rebuild's shortcut);
- ``thresholds_of``: the decisions that call for an award the learner does not hold;
- ``as_of`` / ``decision_as_of``: the bank, its summary and the decisions as of position
  P judged at event time T, and ``LearnerAsOf.view`` their JSON shape (``LearnerBank``);
- ``as_on_date`` / ``decision_on_date``: the second time axis, the learner's standing on a
  calendar day as the log up to P tells it (``domain.on_date``).

Finding P and T is the caller's (it needs the whole log, not one learner's events): P is
the position asked for (at most the head), or the last one recorded at or before the time
asked for; T is that time, or else ``event_time`` at P: the ``recorded_at`` of the event
there, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from domain.awards import award_generation
from domain.bank_summary import BankSummary, summarize
from domain.catalog import Catalog, Rule, fold_catalog
from domain.credit_bank import CreditBank, evolve, fold
from domain.decision import Decision
from domain.holdings import empty_bank
from domain.on_date import bank_on_date, end_of_day
from domain.rules import evaluate
from domain.shelf_life import utc_day
from domain.touched import touched_rules
from domain.views import LearnerBank, bank_view, decision_view
from proto import events as ev

# The event time of position 0: before anything was recorded.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# (event, position, recorded_at), as the log recorded it.
Timed = tuple[ev.Event, int, dt.datetime]


def event_time(recorded_at: dt.datetime | None) -> dt.datetime:
    """The event time at a position: the ``recorded_at`` of the event there, or the epoch
    before anything was recorded (never the wall clock)."""
    return recorded_at or EPOCH


def _up_to(events: Iterable[Timed], position: int | None) -> Iterable[Timed]:
    if position is None:
        return events
    return (e for e in events if e[1] <= position)


def catalog_as_of(events: Iterable[Timed], position: int | None = None) -> Catalog:
    """The catalog from catalog events of any streams up to ``position`` (all if None),
    folded in log order."""
    return fold_catalog(sorted(_up_to(events, position), key=lambda e: e[1]))


def bank_as_of(learner_id: str, events: Iterable[Timed], position: int | None = None) -> CreditBank:
    """The learner's bank from the learner's events (in log order) up to ``position``."""
    return fold(learner_id, _up_to(events, position))


def relevant_codes(catalog: Catalog, bank: CreditBank) -> set[str]:
    """The qualifications whose current rule names something the learner holds."""
    held = {p.code for p in bank.passes.values()} | {
        a.qualification_code for a in bank.awards.values()
    }
    return {rule.code for rule in catalog.rules_naming(held)}


def relevant_decisions(
    catalog: Catalog, bank: CreditBank, position: int, at: dt.datetime
) -> list[Decision]:
    """Every qualification whose rule names something the learner holds, evaluated at ``at``."""
    decisions = []
    for code in sorted(relevant_codes(catalog, bank)):
        rule = catalog.rule_in_force(code, position)
        if rule is not None:
            decisions.append(evaluate(rule, bank, at))
    return decisions


# A rule, and the bank and event time it is to be judged by.
Touch = tuple[Rule, CreditBank, dt.datetime]


def last_touches(
    learner_id: str, events: Iterable[Timed], catalog_at: Callable[[int], Catalog]
) -> tuple[CreditBank, dict[str, Touch]]:
    """The bank after the learner's ``events`` (in log order) and, per qualification, the
    rule, bank and time of the learner's last event that touched that rule
    (``domain.touched``). ``catalog_at(p)`` is the catalog as of position p."""
    bank = empty_bank(learner_id)
    last: dict[str, Touch] = {}
    relevance = _Relevance()
    for event, position, at in events:
        before = bank
        bank = evolve(bank, event, position, at)
        catalog = catalog_at(position)
        relevance.update(catalog, bank)
        for rule in touched_rules(catalog, relevance.codes, before, bank, position):
            last[rule.code] = (rule, bank, at)
    return bank, last


def judge(touches: dict[str, Touch]) -> dict[str, Decision]:
    """Each touch's rule evaluated against its bank at its time."""
    return {code: evaluate(rule, bank, at) for code, (rule, bank, at) in touches.items()}


def last_decisions(
    learner_id: str, events: Iterable[Timed], catalog_at: Callable[[int], Catalog]
) -> tuple[CreditBank, dict[str, Decision]]:
    """The bank after the learner's ``events`` and, per qualification, the decision at the
    learner's last event that touched its rule.

    That is what the live fold leaves, having evaluated the touched rules at every event,
    but with each rule evaluated once: at its last touch.
    """
    bank, touches = last_touches(learner_id, events, catalog_at)
    return bank, judge(touches)


class _Relevance:
    """``relevant_codes`` along one learner's fold, without recomputing it at every event.

    Held codes only grow (a pass or an award is never removed, only flagged), so while the
    catalog stays the same the relevant qualifications only grow too: by those naming the
    codes of the passes and awards the event added (a mapping keeps its insertion order, so
    those come last). A new catalog recomputes them.
    """

    __slots__ = ("awards", "catalog", "codes", "passes")

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        self.codes: frozenset[str] = frozenset()
        self.passes = 0
        self.awards = 0

    def update(self, catalog: Catalog, bank: CreditBank) -> None:
        """Follow the bank after one more event."""
        if catalog is not self.catalog:
            self.codes = frozenset(relevant_codes(catalog, bank))
        elif len(bank.passes) != self.passes or len(bank.awards) != self.awards:
            added = {p.code for p in islice(bank.passes.values(), self.passes, None)}
            added.update(
                a.qualification_code for a in islice(bank.awards.values(), self.awards, None)
            )
            naming = catalog.naming
            self.codes = self.codes.union(*(naming.get(code, ()) for code in added))
        else:
            return
        self.catalog = catalog
        self.passes, self.awards = len(bank.passes), len(bank.awards)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A rule newly satisfied for a learner who holds no unrevoked award of it."""

    decision: Decision
    award_generation: int
    position: int


def thresholds_of(bank: CreditBank, decisions: list[Decision], position: int) -> list[Threshold]:
    return [
        Threshold(d, award_generation(bank, d.qualification_code), position)
        for d in decisions
        if d.awardable and bank.held_award(d.qualification_code) is None
    ]


@dataclass(frozen=True)
class LearnerAsOf:
    """What a learner held, and towards what, as of ``position``, judged at ``at``."""

    learner_id: str
    position: int  # the log position the answer is as of
    at: dt.datetime  # the event time rules and shelf life are judged at
    bank: CreditBank
    summary: BankSummary
    decisions: list[Decision]
    on_date: dt.date | None = None  # the day asked for on the second axis (domain.on_date)

    @property
    def found(self) -> bool:
        """The learner had passes or awards by then (otherwise readers answer "not found")."""
        return bool(self.bank.passes or self.bank.awards)

    def view(self, recorded_by: str | None = None) -> LearnerBank:
        """``recorded_by``: the institution whose events alone the answer was folded from
        (a reader's label; None for the learner's whole history)."""
        return LearnerBank(
            as_of_position=self.position,
            as_of_time=self.at,
            credit_bank=bank_view(self.summary),
            progress=[decision_view(d, recorded_by) for d in self.decisions],
            recorded_by=recorded_by,
            as_of_date=self.on_date,
        )


def as_of(
    learner_id: str,
    learner_events: Iterable[Timed],
    catalog_events: Iterable[Timed],
    position: int,
    at: dt.datetime,
) -> LearnerAsOf:
    """The learner's bank, summary and decisions as of ``position``, judged at ``at``.

    Events after ``position`` are left out, so whole histories may be passed.
    """
    catalog = catalog_as_of(catalog_events, position)
    bank = bank_as_of(learner_id, learner_events, position)
    decisions = relevant_decisions(catalog, bank, position, at)
    return LearnerAsOf(learner_id, position, at, bank, summarize(bank, utc_day(at)), decisions)


def as_on_date(
    learner_id: str,
    learner_events: Iterable[Timed],
    catalog_events: Iterable[Timed],
    position: int,
    day: dt.date,
) -> LearnerAsOf:
    """The learner's standing on ``day`` as the log up to ``position`` tells it
    (``domain.on_date``): its passes assessed by then, judged at the end of the day."""
    catalog = catalog_as_of(catalog_events, position)
    bank = bank_on_date(bank_as_of(learner_id, learner_events, position), day)
    at = end_of_day(day)
    decisions = relevant_decisions(catalog, bank, position, at)
    return LearnerAsOf(learner_id, position, at, bank, summarize(bank, day), decisions, day)


def decision_on_date(
    learner_id: str,
    learner_events: Iterable[Timed],
    catalog_events: Iterable[Timed],
    qualification_code: str,
    position: int,
    day: dt.date,
) -> Decision | None:
    """One qualification's decision on ``day`` (``as_on_date``)."""
    rule = catalog_as_of(catalog_events, position).rule_in_force(qualification_code, position)
    if rule is None:
        return None
    bank = bank_on_date(bank_as_of(learner_id, learner_events, position), day)
    return evaluate(rule, bank, end_of_day(day))


def decision_as_of(
    learner_id: str,
    learner_events: Iterable[Timed],
    catalog_events: Iterable[Timed],
    qualification_code: str,
    position: int,
    at: dt.datetime,
) -> Decision | None:
    """One qualification's decision as of ``position`` (None: no version in force there)."""
    rule = catalog_as_of(catalog_events, position).rule_in_force(qualification_code, position)
    if rule is None:
        return None
    return evaluate(rule, bank_as_of(learner_id, learner_events, position), at)
