"""Version 1 of every event the ledger records.

One frozen Struct per event, one tagged union (``LedgerEvent``) for the family; the tag is
the ``type`` field. Unknown fields are ignored here so that older readers keep working when
a field is added (with a default); the ledger's HTTP input forbids them (``proto.http``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from proto.types import (
    AssessmentId,
    Code,
    CredentialId,
    Credits,
    InstitutionId,
    LearnerId,
    Level,
    NotionalHours,
    Reason,
    RedemptionId,
    Sector,
    Share,
    Text,
    Title,
    ValidityYears,
    Version,
)

SCHEMA_VERSION = 1


class AssessmentMode(StrEnum):
    TRAINING = "training"
    RPL = "rpl"


class InstitutionKind(StrEnum):
    TRAINING_PROVIDER = "training_provider"
    ASSESSMENT_BODY = "assessment_body"
    AWARDING_BODY = "awarding_body"
    # Reads a learner's bank when the learner grants it; never records a pass.
    EMPLOYER = "employer"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every ledger event; ``type`` carries the class name."""


# --- institutions and catalog (written by the admin role) -------------------------------


class InstitutionRegistered(Event, frozen=True, kw_only=True):
    """An institution is registered, or its accreditation scope is replaced."""

    institution_id: InstitutionId
    name: Title
    kind: InstitutionKind
    accredited_sectors: Annotated[list[Sector], msgspec.Meta(max_length=100)]
    max_level: Level
    accredited: bool = True


class SectorScope(msgspec.Struct, frozen=True, kw_only=True):
    """One sector an institution is accredited for, up to and including ``max_level``."""

    sector: Sector
    max_level: Level


AccreditationScope = Annotated[list[SectorScope], msgspec.Meta(min_length=1, max_length=100)]


class AccreditationGranted(Event, frozen=True, kw_only=True):
    """An accreditation body grants an institution sectors, each to a highest NSQF level.

    In force for passes assessed on ``effective_from`` up to (not including)
    ``effective_until``; open-ended when that is absent. A sector may not be granted twice
    for overlapping dates: widening a grant is ``AccreditationExtended``.
    """

    institution_id: InstitutionId
    scope: AccreditationScope
    effective_from: dt.date
    effective_until: dt.date | None = None
    note: Text = ""


class AccreditationExtended(Event, frozen=True, kw_only=True):
    """A grant in force on ``effective_from`` is widened: a higher level, a later end, or both.

    From ``effective_from`` each named sector is covered up to ``max_level`` until
    ``effective_until`` (open-ended when absent). Nothing may narrow: a lower level or an
    earlier end is a withdrawal, and must be recorded as one.
    """

    institution_id: InstitutionId
    scope: AccreditationScope
    effective_from: dt.date
    effective_until: dt.date | None = None
    note: Text = ""


class AccreditationWithdrawn(Event, frozen=True, kw_only=True):
    """Accreditation ends for passes assessed on or after ``effective_from``.

    ``sectors`` names the sectors withdrawn; empty withdraws every sector. Passes assessed
    before ``effective_from`` stay acceptable, even when they are uploaded later.
    """

    institution_id: InstitutionId
    sectors: Annotated[list[Sector], msgspec.Meta(max_length=100)] = []
    effective_from: dt.date
    reason: Reason


class MicroCredentialDefined(Event, frozen=True, kw_only=True):
    """A micro-credential enters the catalog, or a new version of it does."""

    code: Code
    version: Version
    title: Title
    sector: Sector
    level: Level
    notional_hours: NotionalHours
    learning_outcomes: Annotated[list[Text], msgspec.Meta(max_length=50)] = []
    validity_years: ValidityYears = 7


class ElectiveGroup(msgspec.Struct, frozen=True, kw_only=True):
    codes: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=100)]
    min_count: Annotated[int, msgspec.Meta(ge=1, le=100)]


class QualificationDefined(Event, frozen=True, kw_only=True):
    """A qualification and its stacking rule; a new version governs later awards."""

    code: Code
    version: Version
    title: Title
    description: Text = ""
    sector: Sector
    level: Level
    required: Annotated[list[Code], msgspec.Meta(max_length=100)] = []
    electives: Annotated[list[ElectiveGroup], msgspec.Meta(max_length=20)] = []
    min_credits: Credits
    min_component_level: Level | None = None
    max_rpl_share: Share | None = None


# --- learner events written by institutions ---------------------------------------------


class CatalogSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The micro-credential as it stood when the pass was recorded (set by the ledger)."""

    version: Version
    level: Level
    notional_hours: NotionalHours
    sector: Sector
    validity_years: ValidityYears


class AssessmentPassed(Event, frozen=True, kw_only=True):
    """An institution states that a learner passed one micro-credential's assessment."""

    assessment_id: AssessmentId
    learner_id: LearnerId
    institution_id: InstitutionId
    micro_credential_code: Code
    mode: AssessmentMode
    assessed_on: dt.date
    catalog_snapshot: CatalogSnapshot | None = None


class CredentialIssued(Event, frozen=True, kw_only=True):
    """A micro-credential certificate is issued for an assessment pass."""

    credential_id: CredentialId
    assessment_id: AssessmentId
    learner_id: LearnerId
    institution_id: InstitutionId
    micro_credential_code: Code
    issued_on: dt.date


class AssessmentRevoked(Event, frozen=True, kw_only=True):
    assessment_id: AssessmentId
    learner_id: LearnerId
    institution_id: InstitutionId
    reason: Reason


class CredentialRevoked(Event, frozen=True, kw_only=True):
    credential_id: CredentialId
    learner_id: LearnerId
    institution_id: InstitutionId
    reason: Reason


class PassRef(msgspec.Struct, frozen=True, kw_only=True):
    """Names one assessment pass: assessment ids are unique per institution."""

    institution_id: InstitutionId
    assessment_id: AssessmentId


class CreditsRedeemed(Event, frozen=True, kw_only=True):
    """Passes are redeemed towards a programme elsewhere and debited for good (ABC)."""

    redemption_id: RedemptionId
    learner_id: LearnerId
    institution_id: InstitutionId
    passes: Annotated[list[PassRef], msgspec.Meta(min_length=1, max_length=200)]
    programme: Title


# --- awards (written by the issuer role) ------------------------------------------------


AwardId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description=(
            "Deterministic award id: UUID v5 of learner, qualification, version, generation."
        ),
    ),
]


class AwardComponent(msgspec.Struct, frozen=True, kw_only=True):
    micro_credential_code: Code
    pass_ref: PassRef
    notional_hours: NotionalHours
    level: Level
    mode: AssessmentMode


class QualificationAwarded(Event, frozen=True, kw_only=True):
    award_id: AwardId
    learner_id: LearnerId
    qualification_code: Code
    qualification_version: Version
    award_generation: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    components: Annotated[list[AwardComponent], msgspec.Meta(max_length=500)]
    required_qualifications: Annotated[list[Code], msgspec.Meta(max_length=100)] = []
    counted_hours: Annotated[int, msgspec.Meta(ge=0)]
    credit_points: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[0-9]+(/[0-9]+)?$",
            description="Exact credit points (credits x level) as an integer or 'p/q'.",
        ),
    ]
    decided_at_position: Annotated[int, msgspec.Meta(ge=0)]


class RevocationReasonCode(StrEnum):
    """Why an award is revoked; the ledger checks each against who may claim it."""

    # The rule no longer holds with what the learner still holds (issuer role; the ledger
    # re-evaluates the award with the shared core and refuses it if the rule still holds).
    RULE_NO_LONGER_HOLDS = "rule_no_longer_holds"
    # Admin role only, with a note: no automatic re-award until an admin lifts the block.
    FRAUD = "fraud"
    ISSUED_IN_ERROR = "issued_in_error"


ADMIN_REVOCATION_REASONS = frozenset(
    {RevocationReasonCode.FRAUD, RevocationReasonCode.ISSUED_IN_ERROR}
)


class QualificationRevoked(Event, frozen=True, kw_only=True):
    """An award is revoked. ``reason_code`` is required on new appends; revocations
    recorded before it existed read as ``None`` and mean ``rule_no_longer_holds``."""

    award_id: AwardId
    learner_id: LearnerId
    qualification_code: Code
    reason: Reason
    reason_code: RevocationReasonCode | None = None
    note: Text = ""


class AwardBlockLifted(Event, frozen=True, kw_only=True):
    """An admin allows automatic re-award of a qualification blocked by a fraud or
    issued-in-error revocation (written by the admin role, with a note)."""

    learner_id: LearnerId
    qualification_code: Code
    note: Reason


GrantId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="The learner's id for one grant of consent (a lower-case UUID).",
    ),
]


class ConsentScope(StrEnum):
    """What a grant lets its grantee read."""

    # The whole credit bank and progress, the history included, on every axis.
    CREDIT_BANK = "credit_bank"


class ConsentGranted(Event, frozen=True, kw_only=True):
    """A learner lets an institution (an employer, say) read their whole credit bank, from
    now until ``valid_until`` (the end of that day, UTC) or a withdrawal. Recorded only by
    the learner themselves (the ``learner`` role)."""

    grant_id: GrantId
    learner_id: LearnerId
    grantee_institution_id: InstitutionId
    scope: ConsentScope = ConsentScope.CREDIT_BANK
    valid_until: dt.date | None = None


class ConsentWithdrawn(Event, frozen=True, kw_only=True):
    """A learner withdraws a grant: from now on its grantee sees only what it recorded."""

    grant_id: GrantId
    learner_id: LearnerId


# The events of an institution's stream: its registration and its accreditation over time.
INSTITUTION_STREAM_EVENTS: tuple[type[Event], ...] = (
    InstitutionRegistered,
    AccreditationGranted,
    AccreditationExtended,
    AccreditationWithdrawn,
)
# A learner's say over who reads their bank: in their stream, never their holdings.
CONSENT_EVENTS: tuple[type[Event], ...] = (ConsentGranted, ConsentWithdrawn)
# Events that describe the catalog or institutions, never a learner's holdings.
CATALOG_EVENTS: tuple[type[Event], ...] = (
    *INSTITUTION_STREAM_EVENTS,
    MicroCredentialDefined,
    QualificationDefined,
)

LedgerEvent = (
    InstitutionRegistered
    | AccreditationGranted
    | AccreditationExtended
    | AccreditationWithdrawn
    | MicroCredentialDefined
    | QualificationDefined
    | AssessmentPassed
    | CredentialIssued
    | AssessmentRevoked
    | CredentialRevoked
    | CreditsRedeemed
    | QualificationAwarded
    | QualificationRevoked
    | AwardBlockLifted
    | ConsentGranted
    | ConsentWithdrawn
)

EVENT_TYPES: tuple[type[Event], ...] = (
    InstitutionRegistered,
    AccreditationGranted,
    AccreditationExtended,
    AccreditationWithdrawn,
    MicroCredentialDefined,
    QualificationDefined,
    AssessmentPassed,
    CredentialIssued,
    AssessmentRevoked,
    CredentialRevoked,
    CreditsRedeemed,
    QualificationAwarded,
    QualificationRevoked,
    AwardBlockLifted,
    ConsentGranted,
    ConsentWithdrawn,
)
EVENT_TYPE_NAMES: frozenset[str] = frozenset(t.__name__ for t in EVENT_TYPES)

# Built once: decoding is on every hot path.
event_decoder = msgspec.json.Decoder(LedgerEvent)


def decode_event(raw: bytes | str) -> LedgerEvent:
    return event_decoder.decode(raw)


def _institution_stream(event: Any) -> str:
    return f"institution-{event.institution_id}"


def _learner_stream(event: Any) -> str:
    return f"learner-{event.learner_id}"


# By type, not a ``match`` over class patterns: that tried each class in turn (~3 µs for a
# pass, on every append).
_STREAM_OF: dict[type[Event], Callable[[Any], str]] = {
    InstitutionRegistered: _institution_stream,
    AccreditationGranted: _institution_stream,
    AccreditationExtended: _institution_stream,
    AccreditationWithdrawn: _institution_stream,
    MicroCredentialDefined: lambda event: f"microcredential-{event.code}",
    QualificationDefined: lambda event: f"qualification-{event.code}",
    AssessmentPassed: _learner_stream,
    CredentialIssued: _learner_stream,
    AssessmentRevoked: _learner_stream,
    CredentialRevoked: _learner_stream,
    CreditsRedeemed: _learner_stream,
    QualificationAwarded: _learner_stream,
    QualificationRevoked: _learner_stream,
    AwardBlockLifted: _learner_stream,
    ConsentGranted: _learner_stream,
    ConsentWithdrawn: _learner_stream,
}


def stream_of(event: Event) -> str:
    """The stream an event belongs to, derived from its content (never chosen by a client)."""
    for klass in type(event).__mro__:
        derive = _STREAM_OF.get(klass)
        if derive is not None:
            return derive(event)
    raise TypeError(f"not a ledger event: {type(event).__name__}")
