"""What a rule evaluation decided, with everything an auditor needs to check it by hand.

Every pass in the bank appears in the decision: counted (``counted``), left out with a
reason (``not_counted``), or both when the RPL cap cut part of it. For each pass, its
counted hours plus its not-counted hours equal its notional hours, so nothing is lost or
counted twice.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Literal

import msgspec

from domain.holdings import AwardBlock, PassKey
from domain.units import credits_from_hours, halves_to_level
from proto.events import AssessmentMode

NotCountedReason = Literal[
    "expired",  # its shelf life ended on or before the evaluation day
    "revoked",  # the assessment was revoked
    "redeemed",  # debited for good towards a programme elsewhere
    "below_level",  # under the rule's min_component_level
    "rpl_cap",  # an RPL pass cut, fully or partly, by max_rpl_share
    "not_in_rule",  # neither named by the rule nor part of a lower qualification it names
    "superseded",  # a later pass of the same code is counted instead
]


class CountedComponent(msgspec.Struct, frozen=True):
    """One micro-credential the decision relies on (each code at most once)."""

    pass_key: PassKey
    code: str
    hours: int  # the pass's notional hours
    counted_hours: int  # what counts towards min_credits: less than hours if RPL-capped
    level_halves: int
    mode: AssessmentMode
    via_qualification: str | None  # the lower qualification it came with, if not named

    @property
    def level(self) -> str:
        return halves_to_level(self.level_halves)

    @property
    def counted_credits(self) -> Fraction:
        return credits_from_hours(self.counted_hours)


class NotCounted(msgspec.Struct, frozen=True):
    """A pass, or for ``rpl_cap`` the cut part of one, that does not count."""

    pass_key: PassKey
    code: str
    reason: NotCountedReason
    hours: int  # hours left out: the whole pass, or the cut for rpl_cap


class ElectiveProgress(msgspec.Struct, frozen=True):
    codes: tuple[str, ...]
    min_count: int
    held: tuple[str, ...]  # codes of the group the learner holds, in the group's order
    short_by: int

    @property
    def met(self) -> bool:
        return self.short_by == 0


class Decision(msgspec.Struct, frozen=True):
    """A rule evaluated against one learner's bank at one event time."""

    learner_id: str
    qualification_code: str
    rule_version: int
    evaluated_at: dt.datetime
    evaluated_on: dt.date  # the UTC day of evaluated_at: shelf life is judged on it
    bank_position: int  # the last log position folded into the bank
    satisfied: bool
    counted: tuple[CountedComponent, ...]  # sorted by code; all an award's components
    not_counted: tuple[NotCounted, ...]  # in log order
    counted_hours: int
    counted_credits: Fraction
    rpl_credits_counted: Fraction
    min_credits: int
    missing_required: tuple[str, ...]
    electives: tuple[ElectiveProgress, ...]
    # Named qualifications (required or elective) held as unrevoked awards and relied on.
    required_qualifications: tuple[str, ...]
    credit_points: Fraction  # counted credits x level, summed exactly
    # Set when an admin's fraud / issued-in-error revocation stops automatic re-award:
    # the rule may be satisfied, but no award follows until an admin lifts the block.
    award_block: AwardBlock | None = None

    @property
    def awardable(self) -> bool:
        """Satisfied, and not blocked: what the projector announces and the issuer awards."""
        return self.satisfied and self.award_block is None
