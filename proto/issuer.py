"""Messages the issuer publishes for other services (DESIGN §4-5), on its own stream.

``BadgeCredentialIssued`` says an Open Badges 3.0 credential was signed for an award;
``BadgeCredentialRevoked`` says its status bit was set because the award was revoked. The
names differ from the ledger's ``CredentialIssued`` / ``CredentialRevoked`` (an institution's
certificate for one pass), which mean something else.

Subjects carry a keyed hash of the learner id, never the id itself, so subject-based
monitoring and ACLs see no personal identifier; services that know the learner find the id
in the payload. Message ids derive from the award id, so a re-publish (an outbox retry,
another issuer replica) is dropped by the broker.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

import msgspec

from proto.types import Code, LearnerId, Reason, Version

ISSUER_STREAM = "ISSUER"
ISSUER_SUBJECT_PREFIX = "issuer.v1"
ISSUER_SUBJECTS = f"{ISSUER_SUBJECT_PREFIX}.>"
ISSUER_NAMESPACE = uuid.UUID("5d0c8f3e-2a7b-4e61-9f3d-8c1b7a6e4d20")

LearnerHash = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{32}$",
        description="HMAC-SHA-256 of the learner id under the issuer's secret, first 32 hex digits.",
    ),
]
Uuid = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class BadgeCredentialIssued(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """An Open Badges 3.0 AchievementCredential was signed for a qualification award."""

    message_id: Uuid
    credential_id: Annotated[str, msgspec.Meta(description="The credential's id (urn:uuid:...).")]
    award_id: Uuid
    learner_id: LearnerId
    learner_hash: LearnerHash
    qualification_code: Code
    qualification_version: Version
    award_generation: Annotated[int, msgspec.Meta(ge=0)]
    credential_url: Annotated[str, msgspec.Meta(description="Where the signed credential is.")]
    status_list_url: str
    status_list_index: Annotated[int, msgspec.Meta(ge=0)]
    key_id: Annotated[str, msgspec.Meta(description="The kid the credential was signed with.")]
    valid_from: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    issued_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]


class BadgeCredentialRevoked(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A credential's bit in its revocation status list was set: its award was revoked."""

    message_id: Uuid
    credential_id: str
    award_id: Uuid
    learner_id: LearnerId
    learner_hash: LearnerHash
    qualification_code: Code
    status_list_url: str
    status_list_index: Annotated[int, msgspec.Meta(ge=0)]
    reason: Reason
    revoked_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]


ISSUER_MESSAGE_TYPES: tuple[type[msgspec.Struct], ...] = (
    BadgeCredentialIssued,
    BadgeCredentialRevoked,
)
IssuerMessage = BadgeCredentialIssued | BadgeCredentialRevoked
issuer_message_decoder = msgspec.json.Decoder(IssuerMessage)


def issued_message_id(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"issued/{award_id}"))


def revoked_message_id(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"revoked/{award_id}"))


def issued_subject(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v1.credential.issued.<qualification>.<learner-hash>``."""
    return _subject("credential.issued", qualification_code, learner_hash)


def revoked_subject(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v1.credential.revoked.<qualification>.<learner-hash>``."""
    return _subject("credential.revoked", qualification_code, learner_hash)


def dead_letter_subject(consumer: str) -> str:
    """Where a message goes after it failed its configured number of deliveries."""
    return _subject("dead-letter", consumer)


def _subject(kind: str, *tokens: str) -> str:
    for token in tokens:
        # A '.', '*' or '>' in a token would change which filters match the subject.
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a single subject token")
    return ".".join((ISSUER_SUBJECT_PREFIX, kind, *tokens))
