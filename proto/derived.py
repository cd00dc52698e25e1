"""Messages the projector derives from the log (docs/architecture.md §4-5), on their own stream.

``QualificationEligible`` tells the issuer a learner now satisfies a qualification's rule;
``CreditBankUpdated`` tells anyone interested that a learner's credit bank changed. Both
carry deterministic message ids, so a re-publish (a restart, a rebuild) is dropped by the
broker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from proto.events import PassRef
from proto.types import Code, LearnerId, Version

CREDIT_STREAM = "CREDIT"
CREDIT_SUBJECTS = "credit.v1.>"
DERIVED_NAMESPACE = uuid.UUID("2b1f7d0e-58c4-4d1a-9a61-0f4c3e9d7b21")


class EligibleComponent(msgspec.Struct, frozen=True, kw_only=True):
    micro_credential_code: Code
    pass_ref: PassRef
    counted_hours: Annotated[int, msgspec.Meta(ge=0)]
    via_qualification: Code | None = None


class QualificationEligible(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A learner satisfies a qualification's rule and holds no unrevoked award of it."""

    message_id: str
    learner_id: LearnerId
    qualification_code: Code
    qualification_version: Version
    award_generation: Annotated[int, msgspec.Meta(ge=0)]
    components: list[EligibleComponent]
    counted_hours: Annotated[int, msgspec.Meta(ge=0)]
    decided_at_position: Annotated[int, msgspec.Meta(ge=1)]
    decided_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]


class CreditBankUpdated(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A learner's credit bank changed at ``position``; read it from the projector's API."""

    message_id: str
    learner_id: LearnerId
    position: Annotated[int, msgspec.Meta(ge=1)]
    total_hours: Annotated[int, msgspec.Meta(ge=0)]
    total_credits: Annotated[str, msgspec.Meta(description="Exact credits: integer or 'p/q'.")]
    credit_points: Annotated[
        str, msgspec.Meta(description="Exact credit points: integer or 'p/q'.")
    ]
    held_qualifications: list[Code]


DERIVED_TYPES: tuple[type[msgspec.Struct], ...] = (QualificationEligible, CreditBankUpdated)


def eligible_message_id(
    learner_id: str, qualification_code: str, version: int, generation: int
) -> str:
    """One threshold per (learner, qualification, rule version, award generation)."""
    return str(
        uuid.uuid5(
            DERIVED_NAMESPACE, f"eligible/{learner_id}/{qualification_code}/{version}/{generation}"
        )
    )


def bank_message_id(learner_id: str, position: int) -> str:
    return str(uuid.uuid5(DERIVED_NAMESPACE, f"bank/{learner_id}/{position}"))


def eligible_subject(qualification_code: str, learner_id: str) -> str:
    return f"credit.v1.eligible.{qualification_code}.{learner_id}"


def bank_subject(learner_id: str) -> str:
    return f"credit.v1.bank.{learner_id}"
