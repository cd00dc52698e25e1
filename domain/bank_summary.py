"""A learner's credit bank on a given day: valid credits per level, per sector, in total.

Each micro-credential counts once (its latest held pass), as in the stacking rules, so a
re-assessment refreshes a shelf life without doubling the credits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from fractions import Fraction
from types import MappingProxyType

import msgspec

from domain.holdings import CreditBank, HeldAward, Pass, latest_by_code
from domain.shelf_life import add_years
from domain.units import credits_from_hours, halves_to_level, total_credit_points

EXPIRY_WARNING_YEARS = 1


class BankSummary(msgspec.Struct, frozen=True):
    learner_id: str
    on: dt.date
    position: int
    hours_by_level: Mapping[str, int]
    credits_by_level: Mapping[str, Fraction]
    hours_by_sector: Mapping[str, int]
    credits_by_sector: Mapping[str, Fraction]
    total_hours: int
    total_credits: Fraction
    credit_points: Fraction
    valid: tuple[Pass, ...]  # what the totals are made of: one held pass per code
    superseded: tuple[Pass, ...]  # held, but an equal-code pass is later
    expiring: tuple[Pass, ...]  # valid passes whose shelf life ends within a year
    expired: tuple[Pass, ...]
    revoked: tuple[Pass, ...]
    redeemed: tuple[Pass, ...]
    qualifications: tuple[HeldAward, ...]  # unrevoked awards


def summarize(bank: CreditBank, on: dt.date) -> BankSummary:
    passes = bank.passes_by_position()
    held = [p for p in passes if p.held_on(on)]
    latest = latest_by_code(held)
    valid = [p for p in held if latest[p.code] is p]
    # Held implies on < expires_on, so a pass expiring on `on` itself is already expired.
    warn_before = add_years(on, EXPIRY_WARNING_YEARS)
    by_level = _sum_hours((halves_to_level(p.level_halves), p) for p in _by_level(valid))
    by_sector = _sum_hours((p.sector, p) for p in sorted(valid, key=lambda p: p.sector))
    total_hours = sum(p.notional_hours for p in valid)
    return BankSummary(
        learner_id=bank.learner_id,
        on=on,
        position=bank.position,
        hours_by_level=by_level,
        credits_by_level=_credits(by_level),
        hours_by_sector=by_sector,
        credits_by_sector=_credits(by_sector),
        total_hours=total_hours,
        total_credits=credits_from_hours(total_hours),
        credit_points=total_credit_points((p.notional_hours, p.level_halves) for p in valid),
        valid=tuple(valid),
        superseded=tuple(p for p in held if latest[p.code] is not p),
        expiring=tuple(p for p in valid if p.expires_on < warn_before),
        expired=tuple(p for p in passes if _expired(p, on)),
        revoked=tuple(p for p in passes if p.revoked),
        redeemed=tuple(p for p in passes if p.redeemed),
        qualifications=tuple(a for a in _awards(bank) if not a.revoked),
    )


def _by_level(passes: list[Pass]) -> list[Pass]:
    return sorted(passes, key=lambda p: p.level_halves)


def _sum_hours(keyed: Iterable[tuple[str, Pass]]) -> Mapping[str, int]:
    hours: dict[str, int] = {}
    for key, p in keyed:
        hours[key] = hours.get(key, 0) + p.notional_hours
    return MappingProxyType(hours)


def _credits(hours: Mapping[str, int]) -> Mapping[str, Fraction]:
    return MappingProxyType({key: credits_from_hours(value) for key, value in hours.items()})


def _expired(p: Pass, on: dt.date) -> bool:
    return not p.revoked and not p.redeemed and on >= p.expires_on


def _awards(bank: CreditBank) -> list[HeldAward]:
    return sorted(bank.awards.values(), key=lambda a: a.position)
