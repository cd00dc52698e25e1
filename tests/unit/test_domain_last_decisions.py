"""``last_decisions``: one evaluation per rule gives the progress a live fold leaves."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from domain.catalog import Catalog
from domain.credit_bank import evolve
from domain.decision import Decision
from domain.holdings import empty_bank
from domain.replay import Timed, last_decisions, relevant_codes
from domain.rules import evaluate
from domain.touched import touched_rules
from tests.support.domain_examples import (
    ADV_CNC_COMPONENTS,
    FIRST_LEARNER_POSITION,
    LEARNER,
    LearnerLog,
    assessment_revoked,
    cnc_operator,
    demo_catalog,
    demo_rule,
    log_with,
    passed,
    passes_of,
    qualification_defined,
)


def live_progress(
    entries: list[Timed], catalog_at: Callable[[int], Catalog]
) -> dict[str, Decision]:
    """What the live projector writes: the rules each event touched, evaluated then."""
    bank = empty_bank(LEARNER)
    progress: dict[str, Decision] = {}
    for event, position, at in entries:
        before, bank = bank, evolve(bank, event, position, at)
        catalog = catalog_at(position)
        for rule in touched_rules(catalog, relevant_codes(catalog, bank), before, bank, position):
            progress[rule.code] = evaluate(rule, bank, at)
    return progress


def catalog_changing_at(*versions: tuple[int, Catalog]) -> Callable[[int], Catalog]:
    """The catalog as of a position, from (position it took effect, catalog) pairs."""
    starts = [start for start, _ in versions]

    def catalog_at(position: int) -> Catalog:
        return versions[bisect.bisect_right(starts, position) - 1][1]

    return catalog_at


def assert_as_live(entries: list[Timed], catalog_at: Callable[[int], Catalog]) -> None:
    bank, decisions = last_decisions(LEARNER, entries, catalog_at)
    assert bank == LearnerLog().record(*(event for event, _, _ in entries)).bank()
    assert decisions == live_progress(entries, catalog_at)


def test_a_learner_who_stacks_a_qualification_and_is_awarded_it() -> None:
    log = log_with(*passes_of(ADV_CNC_COMPONENTS))
    log.award(demo_rule("ADV-CNC-MACHINING"))
    log.record(passed("HOSP-FUND"))
    catalog = demo_catalog()
    assert_as_live(log.entries, lambda _position: catalog)
    _, decisions = last_decisions(LEARNER, log.entries, lambda _position: catalog)
    assert decisions["ADV-CNC-MACHINING"].satisfied


def test_a_revoked_pass_keeps_the_decision_of_the_last_event_it_counted_at() -> None:
    first = passed("CNC-FUND")
    log = log_with(first, passed("CNC-PROG"), *passes_of(["HOSP-FUND", "HOSP-CUST"]))
    log.record(assessment_revoked(first))
    catalog = demo_catalog(cnc_operator())
    assert_as_live(log.entries, lambda _position: catalog)


def test_a_new_rule_version_that_no_longer_names_what_the_learner_holds() -> None:
    log = log_with(passed("CNC-FUND"), passed("HOSP-FUND"))
    v1 = cnc_operator()
    v2 = qualification_defined(
        "CNC-OPERATOR", version=2, required=["CNC-PROG", "CNC-ADV"], min_credits=5
    )
    switch = FIRST_LEARNER_POSITION + 1  # between the two passes
    catalog_at = catalog_changing_at(
        (0, demo_catalog(v1, later_from_position=switch - 1)),
        (switch, demo_catalog(v1, v2, later_from_position=switch - 1)),
    )
    # v1 named CNC-FUND: it was relevant at the first pass, and not after v2 replaced it.
    _, decisions = last_decisions(LEARNER, log.entries, catalog_at)
    assert decisions["CNC-OPERATOR"].rule_version == 1
    assert decisions["CNC-OPERATOR"].bank_position == FIRST_LEARNER_POSITION
    assert_as_live(log.entries, catalog_at)


def test_no_events_no_decisions() -> None:
    bank, decisions = last_decisions(LEARNER, [], lambda _position: demo_catalog())
    assert not bank.passes
    assert decisions == {}
