"""NSQF levels and NCrF credits are exact."""

from __future__ import annotations

from fractions import Fraction

import pytest

from domain.units import (
    credit_points,
    credits_from_hours,
    display,
    exact_text,
    halves_to_level,
    level_to_halves,
)


@pytest.mark.parametrize(
    ("level", "halves"), [("1", 2), ("1.5", 3), ("4", 8), ("4.5", 9), ("8", 16), ("4.0", 8)]
)
def test_levels_are_counted_in_half_steps(level: str, halves: int) -> None:
    assert level_to_halves(level) == halves


@pytest.mark.parametrize("level", ["0.5", "8.5", "9", "4.25", "four", "", "-1"])
def test_anything_but_a_half_step_from_1_to_8_is_refused(level: str) -> None:
    with pytest.raises(ValueError, match="level"):
        level_to_halves(level)


def test_levels_round_trip() -> None:
    assert [halves_to_level(h) for h in range(2, 17)][:4] == ["1", "1.5", "2", "2.5"]
    assert all(level_to_halves(halves_to_level(h)) == h for h in range(2, 17))


def test_thirty_hours_make_one_credit_exactly() -> None:
    assert credits_from_hours(45) == Fraction(3, 2)
    assert credits_from_hours(10) == Fraction(1, 3)


def test_credit_points_are_credits_times_level_without_rounding() -> None:
    assert credit_points(45, level_to_halves("4.5")) == Fraction(27, 4)  # 1.5 credits x 4.5
    assert sum(credit_points(10, 8) for _ in range(3)) == Fraction(4)  # thirds add up exactly


def test_display_rounds_only_at_the_edge() -> None:
    assert display(Fraction(1, 3)) == "0.33"
    assert display(Fraction(27, 4)) == "6.75"
    assert exact_text(Fraction(27, 4)) == "27/4"
    assert exact_text(Fraction(4)) == "4"
