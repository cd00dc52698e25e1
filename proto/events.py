"""Version 1 of every event the ledger records (DESIGN §1).

One frozen Struct per event, one tagged union (``LedgerEvent``) for the family; the tag is
the ``type`` field. Unknown fields are ignored here so that older readers keep working when
a field is added (with a default); the ledger's HTTP input forbids them (``proto.http``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

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


class QualificationRevoked(Event, frozen=True, kw_only=True):
    award_id: AwardId
    learner_id: LearnerId
    qualification_code: Code
    reason: Reason


LedgerEvent = (
    InstitutionRegistered
    | MicroCredentialDefined
    | QualificationDefined
    | AssessmentPassed
    | CredentialIssued
    | AssessmentRevoked
    | CredentialRevoked
    | CreditsRedeemed
    | QualificationAwarded
    | QualificationRevoked
)

EVENT_TYPES: tuple[type[Event], ...] = (
    InstitutionRegistered,
    MicroCredentialDefined,
    QualificationDefined,
    AssessmentPassed,
    CredentialIssued,
    AssessmentRevoked,
    CredentialRevoked,
    CreditsRedeemed,
    QualificationAwarded,
    QualificationRevoked,
)
EVENT_TYPE_NAMES: frozenset[str] = frozenset(t.__name__ for t in EVENT_TYPES)

# Built once: decoding is on every hot path.
event_decoder = msgspec.json.Decoder(LedgerEvent)


def decode_event(raw: bytes | str) -> LedgerEvent:
    return event_decoder.decode(raw)


def stream_of(event: Event) -> str:
    """The stream an event belongs to, derived from its content (never chosen by a client)."""
    match event:
        case InstitutionRegistered(institution_id=institution_id):
            return f"institution-{institution_id}"
        case MicroCredentialDefined(code=code):
            return f"microcredential-{code}"
        case QualificationDefined(code=code):
            return f"qualification-{code}"
        case (
            AssessmentPassed(learner_id=learner)
            | CredentialIssued(learner_id=learner)
            | AssessmentRevoked(learner_id=learner)
            | CredentialRevoked(learner_id=learner)
            | CreditsRedeemed(learner_id=learner)
            | QualificationAwarded(learner_id=learner)
            | QualificationRevoked(learner_id=learner)
        ):
            return f"learner-{learner}"
    raise TypeError(f"not a ledger event: {type(event).__name__}")
