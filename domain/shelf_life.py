"""Dates in the credit bank: shelf life and the evaluation day (docs/architecture.md §1, event time)."""

from __future__ import annotations

import datetime as dt
import functools


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later; 29 February lands on 28 February.

    28 February (not 1 March) so a shelf life never runs longer than the years it names.
    """
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


@functools.lru_cache(maxsize=65536)
def shelf_life_end(assessed_on: dt.date, validity_years: int) -> dt.date:
    """The first day a pass assessed on ``assessed_on`` no longer counts (remembered: every
    rule evaluation and view asks it of every pass)."""
    return add_years(assessed_on, validity_years)


def require_aware(moment: dt.datetime, what: str) -> None:
    """Refuse a naive datetime: its day would depend on the machine's time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got naive {moment.isoformat()}")


def utc_day(moment: dt.datetime) -> dt.date:
    """The UTC calendar day of an event time: every service judges shelf life on this day."""
    require_aware(moment, "an event time")
    return moment.astimezone(dt.UTC).date()
