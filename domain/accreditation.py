"""Accreditation over time: which (sector, highest NSQF level) pairs an institution may
assess, on which assessment dates.

An institution's scope is a set of periods, each one sector up to one level for a range of
assessment dates, folded from the institution's events in log order:

- ``InstitutionRegistered`` replaces the whole scope (its historical meaning): each listed
  sector up to ``max_level`` for every date, or nothing when ``accredited`` is false;
- ``AccreditationGranted`` adds a period per sector; a sector already covered on any of
  those dates is refused (widen it with an extension instead);
- ``AccreditationExtended`` widens the period in force on ``effective_from``: from that
  date a level at least as high, until an end at least as late; it never narrows;
- ``AccreditationWithdrawn`` ends every period of the named sectors (all, if none are
  named) on ``effective_from``.

A pass is judged by the scope in force on its *assessment* date, as the log knows it when
the pass is appended, so a pass assessed before a withdrawal and uploaded after it is still
accepted, and a replay of the log reaches the same answers.

Pure: no clock, no I/O. Dates are ``datetime.date``; ``None`` bounds are open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.units import level_to_halves
from proto import events as ev


class AccreditationError(ValueError):
    """An accreditation event that does not fit the scope it would change."""


@dataclass(frozen=True, slots=True)
class Period:
    """``sector`` up to ``max_level_halves`` for assessments on [valid_from, valid_until)."""

    sector: str
    max_level_halves: int
    valid_from: dt.date | None  # None: since ever
    valid_until: dt.date | None  # None: until further notice

    def __post_init__(self) -> None:
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise AccreditationError(
                f"a period of {self.sector} must end after it starts "
                f"({self.valid_from} .. {self.valid_until})"
            )

    def in_force_on(self, day: dt.date) -> bool:
        after_start = self.valid_from is None or self.valid_from <= day
        before_end = self.valid_until is None or day < self.valid_until
        return after_start and before_end

    def overlaps(self, start: dt.date | None, end: dt.date | None) -> bool:
        starts_before_end = end is None or self.valid_from is None or self.valid_from < end
        ends_after_start = start is None or self.valid_until is None or start < self.valid_until
        return starts_before_end and ends_after_start


Scope = tuple[Period, ...]


def registered_scope(event: ev.InstitutionRegistered) -> Scope:
    if not event.accredited:
        return ()
    halves = level_to_halves(event.max_level)
    return tuple(Period(s, halves, None, None) for s in sorted(set(event.accredited_sectors)))


def covers(scope: Scope, sector: str, level_halves: int, day: dt.date) -> bool:
    """Whether a pass of ``sector`` at ``level_halves`` assessed on ``day`` is in scope."""
    return any(
        p.sector == sector and p.max_level_halves >= level_halves and p.in_force_on(day)
        for p in scope
    )


def evolve_scope(scope: Scope, event: ev.Event) -> Scope:
    """The scope after one of the institution's events; raises ``AccreditationError``."""
    match event:
        case ev.InstitutionRegistered():
            return registered_scope(event)
        case ev.AccreditationGranted():
            return _granted(scope, event)
        case ev.AccreditationExtended():
            return _extended(scope, event)
        case ev.AccreditationWithdrawn():
            return _withdrawn(scope, event)
    return scope


def _sectors_once(entries: list[ev.SectorScope]) -> None:
    sectors = [e.sector for e in entries]
    if len(set(sectors)) != len(sectors):
        raise AccreditationError("a sector is named twice in one accreditation event")


def _granted(scope: Scope, event: ev.AccreditationGranted) -> Scope:
    _sectors_once(event.scope)
    start, end = event.effective_from, event.effective_until
    added = []
    for entry in event.scope:
        clash = [p for p in scope if p.sector == entry.sector and p.overlaps(start, end)]
        if clash:
            raise AccreditationError(
                f"sector {entry.sector} is already accredited on some of these dates "
                f"(up to level {clash[0].max_level_halves / 2:g}); extend or withdraw it instead"
            )
        added.append(Period(entry.sector, level_to_halves(entry.max_level), start, end))
    return (*scope, *added)


def _extended(scope: Scope, event: ev.AccreditationExtended) -> Scope:
    _sectors_once(event.scope)
    day = event.effective_from
    result = list(scope)
    for entry in event.scope:
        current = [p for p in result if p.sector == entry.sector and p.in_force_on(day)]
        if not current:
            raise AccreditationError(
                f"sector {entry.sector} is not accredited on {day}: grant it instead"
            )
        (old,) = current  # grants never overlap, so at most one period is in force
        halves = level_to_halves(entry.max_level)
        if halves < old.max_level_halves:
            raise AccreditationError(
                f"sector {entry.sector} would drop from level {old.max_level_halves / 2:g} "
                f"to {halves / 2:g}: an extension cannot narrow; record a withdrawal"
            )
        if old.valid_until is not None and (
            event.effective_until is not None and event.effective_until < old.valid_until
        ):
            raise AccreditationError(
                f"sector {entry.sector} would end on {event.effective_until}, before "
                f"{old.valid_until}: an extension cannot narrow; record a withdrawal"
            )
        if old.valid_until is None and event.effective_until is not None:
            raise AccreditationError(
                f"sector {entry.sector} is accredited until further notice: an end date "
                "would narrow it; record a withdrawal"
            )
        widened = Period(entry.sector, halves, day, event.effective_until)
        following = [
            p
            for p in result
            if p.sector == entry.sector
            and p is not old
            and widened.overlaps(p.valid_from, p.valid_until)
        ]
        if following:
            raise AccreditationError(
                f"sector {entry.sector} has a later grant from {following[0].valid_from}; "
                "extend up to it, or withdraw it first"
            )
        result.remove(old)
        if old.valid_from is None or old.valid_from < day:
            result.append(Period(old.sector, old.max_level_halves, old.valid_from, day))
        result.append(widened)
    return tuple(result)


def _withdrawn(scope: Scope, event: ev.AccreditationWithdrawn) -> Scope:
    day = event.effective_from
    named = set(event.sectors)
    known = {p.sector for p in scope}
    unknown = sorted(named - known)
    if unknown:
        raise AccreditationError(f"sectors {', '.join(unknown)} were never accredited")
    kept: list[Period] = []
    for p in scope:
        if named and p.sector not in named:
            kept.append(p)
        elif p.valid_from is not None and p.valid_from >= day:
            continue  # starts on or after the withdrawal: it never comes into force
        elif p.valid_until is None or p.valid_until > day:
            kept.append(Period(p.sector, p.max_level_halves, p.valid_from, day))
        else:
            kept.append(p)
    return tuple(kept)


def scope_of(events: list[ev.Event]) -> Scope:
    """The scope from one institution's events, in log order."""
    scope: Scope = ()
    for event in events:
        scope = evolve_scope(scope, event)
    return scope
