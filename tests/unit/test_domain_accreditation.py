"""Accreditation over time: per-sector maxima, grants, extensions and withdrawals by date."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.accreditation import AccreditationError, Scope, covers, evolve_scope, scope_of
from domain.units import level_to_halves
from proto import events as ev

HOTEL = "HOTEL-SCHOOL"
HOSPITALITY = "TOURISM-HOSPITALITY"
BAKERY = "FOOD-PROCESSING"
APRIL_2026 = dt.date(2026, 4, 1)


def grant(
    *scope: tuple[str, str], start: dt.date = APRIL_2026, end: dt.date | None = None
) -> ev.AccreditationGranted:
    return ev.AccreditationGranted(
        institution_id=HOTEL,
        scope=[ev.SectorScope(sector=s, max_level=level) for s, level in scope],
        effective_from=start,
        effective_until=end,
    )


def extend(
    *scope: tuple[str, str], start: dt.date, end: dt.date | None = None
) -> ev.AccreditationExtended:
    return ev.AccreditationExtended(
        institution_id=HOTEL,
        scope=[ev.SectorScope(sector=s, max_level=level) for s, level in scope],
        effective_from=start,
        effective_until=end,
    )


def withdraw(*sectors: str, start: dt.date) -> ev.AccreditationWithdrawn:
    return ev.AccreditationWithdrawn(
        institution_id=HOTEL, sectors=list(sectors), effective_from=start, reason="inspection"
    )


def registered(
    sectors: list[str], max_level: str, accredited: bool = True
) -> ev.InstitutionRegistered:
    return ev.InstitutionRegistered(
        institution_id=HOTEL,
        name="Hotel school",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=sectors,
        max_level=max_level,
        accredited=accredited,
    )


def ok(scope: Scope, sector: str, level: str, day: dt.date) -> bool:
    return covers(scope, sector, level_to_halves(level), day)


def test_each_sector_has_its_own_highest_level() -> None:
    scope = scope_of([registered([], "4"), grant((HOSPITALITY, "4"), (BAKERY, "3.5"))])
    assert ok(scope, HOSPITALITY, "4", APRIL_2026)
    assert not ok(scope, HOSPITALITY, "4.5", APRIL_2026)
    assert ok(scope, BAKERY, "3.5", APRIL_2026)
    assert not ok(scope, BAKERY, "4", APRIL_2026)
    assert not ok(scope, "IT-ITES", "1", APRIL_2026)


def test_a_grant_covers_only_assessments_inside_its_dates() -> None:
    scope = scope_of([grant((BAKERY, "4"), end=dt.date(2027, 4, 1))])
    assert not ok(scope, BAKERY, "4", dt.date(2026, 3, 31))
    assert ok(scope, BAKERY, "4", APRIL_2026)
    assert ok(scope, BAKERY, "4", dt.date(2027, 3, 31))
    assert not ok(scope, BAKERY, "4", dt.date(2027, 4, 1))


def test_a_registration_keeps_its_old_meaning_every_date_to_one_level() -> None:
    scope = scope_of([registered([HOSPITALITY, BAKERY], "5")])
    assert ok(scope, BAKERY, "5", dt.date(1990, 1, 1))
    assert ok(scope, HOSPITALITY, "5", dt.date(2090, 1, 1))
    assert scope_of([registered([BAKERY], "5", accredited=False)]) == ()


def test_a_withdrawal_ends_coverage_for_later_assessments_only() -> None:
    withdrawn_on = dt.date(2026, 9, 1)
    scope = scope_of(
        [grant((HOSPITALITY, "4"), (BAKERY, "3.5")), withdraw(BAKERY, start=withdrawn_on)]
    )
    assert ok(scope, BAKERY, "3", dt.date(2026, 8, 31))  # assessed before: still acceptable
    assert not ok(scope, BAKERY, "3", withdrawn_on)
    assert ok(scope, HOSPITALITY, "4", dt.date(2027, 1, 1))  # other sectors untouched


def test_a_withdrawal_of_every_sector_names_none() -> None:
    scope = scope_of(
        [grant((HOSPITALITY, "4"), (BAKERY, "3.5")), withdraw(start=dt.date(2026, 5, 1))]
    )
    assert not ok(scope, HOSPITALITY, "1", dt.date(2026, 5, 1))
    assert ok(scope, HOSPITALITY, "1", dt.date(2026, 4, 30))


def test_an_extension_raises_the_level_from_its_date_on() -> None:
    raised_on = dt.date(2027, 1, 1)
    scope = scope_of([grant((BAKERY, "3.5")), extend((BAKERY, "4.5"), start=raised_on)])
    assert not ok(scope, BAKERY, "4.5", dt.date(2026, 12, 31))
    assert ok(scope, BAKERY, "3.5", dt.date(2026, 12, 31))
    assert ok(scope, BAKERY, "4.5", raised_on)


def test_an_extension_moves_the_end_date_later() -> None:
    scope = scope_of(
        [
            grant((BAKERY, "4"), end=dt.date(2027, 4, 1)),
            extend((BAKERY, "4"), start=dt.date(2027, 1, 1), end=dt.date(2029, 4, 1)),
        ]
    )
    assert ok(scope, BAKERY, "4", dt.date(2028, 6, 1))
    assert ok(scope, BAKERY, "4", dt.date(2026, 6, 1))
    assert not ok(scope, BAKERY, "4", dt.date(2029, 4, 1))


@pytest.mark.parametrize(
    "bad",
    [
        extend((BAKERY, "3"), start=dt.date(2026, 6, 1)),  # a lower level
        extend((BAKERY, "4"), start=dt.date(2026, 6, 1), end=dt.date(2027, 1, 1)),  # an end
        extend((HOSPITALITY, "4"), start=dt.date(2026, 6, 1)),  # nothing to extend
        grant((BAKERY, "5"), start=dt.date(2026, 6, 1)),  # overlaps the open-ended grant
        withdraw("IT-ITES", start=dt.date(2026, 6, 1)),  # never accredited
        grant((BAKERY, "4"), (BAKERY, "3")),  # a sector twice
    ],
)
def test_an_event_that_would_narrow_or_overlap_is_refused(bad: ev.Event) -> None:
    scope = evolve_scope((), grant((BAKERY, "4")))
    with pytest.raises(AccreditationError):
        evolve_scope(scope, bad)


def test_a_re_registration_replaces_the_scope() -> None:
    scope = scope_of([grant((BAKERY, "4")), registered([HOSPITALITY], "3")])
    assert not ok(scope, BAKERY, "1", APRIL_2026)
    assert ok(scope, HOSPITALITY, "3", APRIL_2026)
