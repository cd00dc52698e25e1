"""What a learner holds: assessment passes and awards, as plain frozen data.

The fold that builds them lives in ``domain.credit_bank``; the rules read them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import NamedTuple

import msgspec

from domain.shelf_life import shelf_life_end
from domain.units import credit_points, credits_from_hours, halves_to_level
from proto.events import AssessmentMode


def is_held(day: dt.date, *, revoked: bool, redeemed: bool, expires_on: dt.date) -> bool:
    """Counts towards a new award on ``day`` (docs/architecture.md §1, "held"): neither revoked nor
    redeemed, and within its shelf life."""
    return not revoked and not redeemed and day < expires_on


class PassKey(NamedTuple):
    """Names one assessment pass: assessment ids are unique per institution."""

    institution_id: str
    assessment_id: str

    def __str__(self) -> str:
        return f"{self.institution_id}/{self.assessment_id}"


class Pass(msgspec.Struct, frozen=True):
    """One assessment pass, with the micro-credential as it stood when it was recorded.

    Level, hours, sector, shelf life and version come from the pass's ``catalog_snapshot``,
    so a later catalog change never rewrites what a pass is worth.
    """

    key: PassKey
    learner_id: str
    code: str
    mode: AssessmentMode
    assessed_on: dt.date
    level_halves: int
    notional_hours: int
    sector: str
    validity_years: int
    catalog_version: int
    position: int
    recorded_at: dt.datetime
    revoked: bool = False
    redeemed: bool = False
    redeemed_position: int | None = None  # the log position of the redemption, if redeemed
    credential_ids: tuple[str, ...] = ()
    revoked_credential_ids: tuple[str, ...] = ()

    @property
    def expires_on(self) -> dt.date:
        """The first day the pass no longer counts."""
        return shelf_life_end(self.assessed_on, self.validity_years)

    def held_on(self, day: dt.date) -> bool:
        """Counts towards a new award on ``day`` (``is_held``)."""
        return is_held(
            day, revoked=self.revoked, redeemed=self.redeemed, expires_on=self.expires_on
        )

    @property
    def credential_revoked(self) -> bool:
        """Every certificate issued for this pass was revoked (a re-issued one clears it).

        A certificate is a document about the pass: revoking it does not revoke the pass,
        which only ``AssessmentRevoked`` does.
        """
        return bool(self.credential_ids) and set(self.credential_ids) <= set(
            self.revoked_credential_ids
        )

    @property
    def level(self) -> str:
        return halves_to_level(self.level_halves)

    @property
    def credits(self) -> Fraction:
        return credits_from_hours(self.notional_hours)

    @property
    def credit_points(self) -> Fraction:
        return credit_points(self.notional_hours, self.level_halves)

    @property
    def recency(self) -> tuple[dt.date, int]:
        """Which of two passes of one code is the latest: by assessment date, then position."""
        return (self.assessed_on, self.position)


class HeldAward(msgspec.Struct, frozen=True):
    """A qualification awarded to the learner, as the award event recorded it."""

    award_id: str
    qualification_code: str
    qualification_version: int
    generation: int
    components: tuple[PassKey, ...]
    component_codes: tuple[str, ...]
    required_qualifications: tuple[str, ...]
    counted_hours: int
    position: int
    revoked: bool = False
    recorded_at: dt.datetime | None = None  # the award's event time: re-evaluations use it


class AwardBlock(msgspec.Struct, frozen=True):
    """No automatic re-award of a qualification: an admin revoked an award of it for fraud
    or as issued in error, and no admin has lifted the block since."""

    qualification_code: str
    award_id: str
    reason_code: str
    note: str
    position: int


def _no_passes() -> Mapping[PassKey, Pass]:
    return MappingProxyType({})


def _no_awards() -> Mapping[str, HeldAward]:
    return MappingProxyType({})


def _no_blocks() -> Mapping[str, AwardBlock]:
    return MappingProxyType({})


class CreditBank(msgspec.Struct, frozen=True):
    """A learner's passes and awards as of ``position`` (0: nothing recorded yet)."""

    learner_id: str
    passes: Mapping[PassKey, Pass] = msgspec.field(default_factory=_no_passes)
    awards: Mapping[str, HeldAward] = msgspec.field(default_factory=_no_awards)
    # Qualification code -> the block on its automatic re-award, if any.
    award_blocks: Mapping[str, AwardBlock] = msgspec.field(default_factory=_no_blocks)
    position: int = 0
    recorded_at: dt.datetime | None = None

    def passes_by_position(self) -> list[Pass]:
        return sorted(self.passes.values(), key=lambda p: p.position)

    def awards_of(self, qualification_code: str) -> list[HeldAward]:
        """Every award of the qualification, revoked ones included, oldest first."""
        found = (a for a in self.awards.values() if a.qualification_code == qualification_code)
        return sorted(found, key=lambda a: a.position)

    def held_award(self, qualification_code: str) -> HeldAward | None:
        """The latest unrevoked award of the qualification, if any."""
        held = [a for a in self.awards_of(qualification_code) if not a.revoked]
        return held[-1] if held else None


def empty_bank(learner_id: str) -> CreditBank:
    if not learner_id:
        raise ValueError("a credit bank needs a learner id")
    return CreditBank(learner_id=learner_id)


def latest_by_code(passes: Iterable[Pass]) -> dict[str, Pass]:
    """Each code once: its latest pass by assessment date, then log position."""
    latest: dict[str, Pass] = {}
    for candidate in passes:
        current = latest.get(candidate.code)
        if current is None or candidate.recency > current.recency:
            latest[candidate.code] = candidate
    return latest
