"""HTTP input of the ledger: strict twins of the events that refuse unknown fields.

Events read by other services tolerate unknown fields (forward compatibility); what a
client posts over HTTP must not carry fields we would silently drop.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

import msgspec

from proto import events as ev

_STRICT: dict[type[ev.Event], type[ev.Event]] = {
    base: cast(
        type[ev.Event],
        msgspec.defstruct(
            base.__name__,
            [],
            bases=(base,),
            tag=base.__name__,
            frozen=True,
            kw_only=True,
            forbid_unknown_fields=True,
            module=__name__,
        ),
    )
    for base in ev.EVENT_TYPES
}


StrictInstitutionRegistered = _STRICT[ev.InstitutionRegistered]
StrictAccreditationGranted = _STRICT[ev.AccreditationGranted]
StrictAccreditationExtended = _STRICT[ev.AccreditationExtended]
StrictAccreditationWithdrawn = _STRICT[ev.AccreditationWithdrawn]
StrictMicroCredentialDefined = _STRICT[ev.MicroCredentialDefined]
StrictQualificationDefined = _STRICT[ev.QualificationDefined]
StrictAssessmentPassed = _STRICT[ev.AssessmentPassed]
StrictCredentialIssued = _STRICT[ev.CredentialIssued]
StrictAssessmentRevoked = _STRICT[ev.AssessmentRevoked]
StrictCredentialRevoked = _STRICT[ev.CredentialRevoked]
StrictCreditsRedeemed = _STRICT[ev.CreditsRedeemed]
StrictQualificationAwarded = _STRICT[ev.QualificationAwarded]
StrictQualificationRevoked = _STRICT[ev.QualificationRevoked]
StrictAwardBlockLifted = _STRICT[ev.AwardBlockLifted]
StrictConsentGranted = _STRICT[ev.ConsentGranted]
StrictConsentWithdrawn = _STRICT[ev.ConsentWithdrawn]

StrictEvent: Any = (
    StrictInstitutionRegistered
    | StrictAccreditationGranted
    | StrictAccreditationExtended
    | StrictAccreditationWithdrawn
    | StrictMicroCredentialDefined
    | StrictQualificationDefined
    | StrictAssessmentPassed
    | StrictCredentialIssued
    | StrictAssessmentRevoked
    | StrictCredentialRevoked
    | StrictCreditsRedeemed
    | StrictQualificationAwarded
    | StrictQualificationRevoked
    | StrictAwardBlockLifted
    | StrictConsentGranted
    | StrictConsentWithdrawn
)


class AppendRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One event to append. ``event_id`` is the idempotency key."""

    event_id: uuid.UUID
    event: StrictEvent
    expected_version: Annotated[int, msgspec.Meta(ge=0)] | None = None
    correlation_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    causation_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class BatchAppendRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Up to the configured maximum of events, appended atomically (all or none)."""

    events: Annotated[list[AppendRequest], msgspec.Meta(min_length=1)]


append_request_decoder = msgspec.json.Decoder(AppendRequest)
batch_request_decoder = msgspec.json.Decoder(BatchAppendRequest)
