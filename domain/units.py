"""NSQF levels and NCrF credits, exactly (docs/architecture.md §1, "Units and arithmetic").

Levels are kept as an integer count of half-levels (4.5 -> 9); hours are integers;
credits (hours / 30) and credit points (credits x level) are ``Fraction``s. Display rounds
to two decimals only at the edge.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

HOURS_PER_CREDIT = 30
LEVEL_HALVES_MIN = 2  # level 1
LEVEL_HALVES_MAX = 16  # level 8


@functools.lru_cache(maxsize=64)
def level_to_halves(level: str) -> int:
    """'4.5' -> 9, '4' -> 8; refuses anything that is not a half step from 1 to 8."""
    whole, _, fraction = level.partition(".")
    if not whole.isdigit() or fraction not in ("", "0", "5"):
        raise ValueError(f"not an NSQF level: {level!r}")
    halves = int(whole) * 2 + (1 if fraction == "5" else 0)
    if not LEVEL_HALVES_MIN <= halves <= LEVEL_HALVES_MAX:
        raise ValueError(f"NSQF levels run from 1 to 8, got {level!r}")
    return halves


@functools.lru_cache(maxsize=32)
def halves_to_level(halves: int) -> str:
    if not LEVEL_HALVES_MIN <= halves <= LEVEL_HALVES_MAX:
        raise ValueError(f"no NSQF level has {halves} half-steps")
    whole, half = divmod(halves, 2)
    return f"{whole}.5" if half else str(whole)


# Remembered (Fractions are immutable): a Fraction costs a gcd to build, and the rules,
# summaries and views ask the same few hour counts over and over.
@functools.lru_cache(maxsize=4096)
def credits_from_hours(hours: int) -> Fraction:
    return Fraction(hours, HOURS_PER_CREDIT)


@functools.lru_cache(maxsize=4096)
def credit_points(hours: int, level_halves: int) -> Fraction:
    """Credits x level, exactly: (hours / 30) x (halves / 2)."""
    return Fraction(hours * level_halves, HOURS_PER_CREDIT * 2)


def total_credit_points(parts: Iterable[tuple[int, int]]) -> Fraction:
    """The sum of ``credit_points`` over (hours, level halves) pairs, as one exact fraction
    (adding Fractions one by one costs a gcd per term)."""
    return Fraction(sum(hours * halves for hours, halves in parts), HOURS_PER_CREDIT * 2)


def exact_text(value: Fraction) -> str:
    """An exact, parseable rendering: '12' or '27/2'."""
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def display(value: Fraction) -> str:
    """Two decimals for people (banker's rounding); never used in a comparison."""
    return _display(value.numerator, value.denominator)


# Remembered by numerator and denominator (a Fraction's own hash costs more than the
# rendering): explanations render the same few amounts over and over.
@functools.lru_cache(maxsize=4096)
def _display(numerator: int, denominator: int) -> str:
    quantized = (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN
    )
    return f"{quantized:.2f}"
