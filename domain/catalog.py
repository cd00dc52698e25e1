"""The catalog as the rules see it: versioned stacking rules and known micro-credentials.

Folded from ``QualificationDefined`` and ``MicroCredentialDefined`` (docs/architecture.md §1, "Stacking
rules"). Every version of a rule is kept with the log position that recorded it, because
"a new version governs awards made after it is recorded": a replay asks which version was
in force at a position, never which one is newest today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType

from domain.shelf_life import require_aware
from domain.units import level_to_halves
from proto import events as ev


@dataclass(frozen=True, slots=True)
class ElectiveRule:
    """At least ``min_count`` of ``codes`` must be held."""

    codes: tuple[str, ...]
    min_count: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_count <= len(set(self.codes)):
            raise ValueError(
                f"an elective group asks for {self.min_count} of {len(set(self.codes))} codes"
            )


@dataclass(frozen=True, slots=True)
class Rule:
    """One version of a qualification's stacking rule, as recorded in the log."""

    code: str
    version: int
    title: str
    sector: str
    level_halves: int
    required: tuple[str, ...]
    electives: tuple[ElectiveRule, ...]
    min_credits: int
    min_component_level_halves: int | None
    max_rpl_share: Fraction | None
    recorded_position: int
    recorded_at: dt.datetime
    # Every code in ``required`` or an elective group, once, in the rule's order: asked at
    # every evaluation, so worked out once.
    named_codes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = [*self.required, *(code for group in self.electives for code in group.codes)]
        object.__setattr__(self, "named_codes", tuple(dict.fromkeys(codes)))
        if self.code in self.named_codes:
            raise ValueError(f"qualification {self.code} cannot name itself")
        if self.min_credits < 0:
            raise ValueError(f"min_credits must not be negative, got {self.min_credits}")
        if self.max_rpl_share is not None and not 0 <= self.max_rpl_share <= 1:
            raise ValueError(f"max_rpl_share must lie in 0..1, got {self.max_rpl_share}")
        require_aware(self.recorded_at, "recorded_at")


def rule_from_event(
    event: ev.QualificationDefined, position: int, recorded_at: dt.datetime
) -> Rule:
    min_level = event.min_component_level
    # Fraction parses the decimal string exactly ("0.3333" is 3333/10000, not a float).
    share = None if event.max_rpl_share is None else Fraction(event.max_rpl_share)
    return Rule(
        code=event.code,
        version=event.version,
        title=event.title,
        sector=event.sector,
        level_halves=level_to_halves(event.level),
        required=tuple(event.required),
        electives=tuple(ElectiveRule(tuple(g.codes), g.min_count) for g in event.electives),
        min_credits=event.min_credits,
        min_component_level_halves=None if min_level is None else level_to_halves(min_level),
        max_rpl_share=share,
        recorded_position=position,
        recorded_at=recorded_at,
    )


def _no_rules() -> Mapping[str, tuple[Rule, ...]]:
    return MappingProxyType({})


def _nothing_named() -> Mapping[str, frozenset[str]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Catalog:
    """Rules per qualification code (every version, oldest first) and micro-credential codes."""

    rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=_no_rules)
    micro_credential_codes: frozenset[str] = frozenset()
    # Code -> the qualifications whose current rule names it: kept with ``rules`` so that
    # finding the rules to re-evaluate for a learner costs a lookup per held code.
    naming: Mapping[str, frozenset[str]] = field(default_factory=_nothing_named)

    def rule_in_force(self, code: str, position: int) -> Rule | None:
        """The latest version recorded at or before ``position``; None if none was yet."""
        for rule in reversed(self.rules.get(code, ())):
            if rule.recorded_position <= position:
                return rule
        return None

    def current_rule(self, code: str) -> Rule | None:
        versions = self.rules.get(code, ())
        return versions[-1] if versions else None

    def is_qualification(self, code: str) -> bool:
        return code in self.rules

    def rules_naming(self, codes: Iterable[str]) -> list[Rule]:
        """Current rules whose required or elective codes name any of ``codes``, by code.

        What to re-evaluate when a learner gains or loses one of ``codes`` (a pass, or an
        award of a lower qualification).
        """
        if isinstance(codes, str):
            raise TypeError("rules_naming takes a collection of codes, not one code string")
        naming = self.naming
        qualifications = {q for code in set(codes) for q in naming.get(code, ())}
        return [self.rules[q][-1] for q in sorted(qualifications)]


def evolve_catalog(
    catalog: Catalog, event: ev.Event, position: int, recorded_at: dt.datetime
) -> Catalog:
    """The catalog after one event; events that do not define the catalog change nothing."""
    match event:
        case ev.QualificationDefined():
            return _add_rule(catalog, rule_from_event(event, position, recorded_at))
        case ev.MicroCredentialDefined(code=code):
            return replace(catalog, micro_credential_codes=catalog.micro_credential_codes | {code})
    return catalog


def _add_rule(catalog: Catalog, rule: Rule) -> Catalog:
    versions = catalog.rules.get(rule.code, ())
    if rule.version != len(versions) + 1:
        raise ValueError(
            f"qualification {rule.code} has {len(versions)} versions; "
            f"version {rule.version} is out of sequence"
        )
    if versions and rule.recorded_position <= versions[-1].recorded_position:
        raise ValueError(
            f"qualification {rule.code} v{rule.version} at position {rule.recorded_position} "
            f"is not after v{versions[-1].version} at {versions[-1].recorded_position}"
        )
    rules = {**catalog.rules, rule.code: (*versions, rule)}
    return replace(catalog, rules=MappingProxyType(rules), naming=_naming(rules))


def _naming(rules: Mapping[str, tuple[Rule, ...]]) -> Mapping[str, frozenset[str]]:
    naming: dict[str, set[str]] = {}
    for code, versions in rules.items():
        for named in versions[-1].named_codes:
            naming.setdefault(named, set()).add(code)
    return MappingProxyType({named: frozenset(q) for named, q in naming.items()})


def fold_catalog(events: Iterable[tuple[ev.Event, int, dt.datetime]]) -> Catalog:
    """The catalog from (event, position, recorded_at) triples in log order."""
    catalog = Catalog()
    for event, position, recorded_at in events:
        catalog = evolve_catalog(catalog, event, position, recorded_at)
    return catalog
