"""Messages the issuer publishes for other services (docs/architecture.md §4-5), on its own stream.

``BadgeCredentialIssued`` says an Open Badges 3.0 credential was signed for an award;
``BadgeCredentialRevoked`` says its status bit was set because the award was revoked. The
names differ from the ledger's ``CredentialIssued`` / ``CredentialRevoked`` (an institution's
certificate for one pass), which mean something else.

Two versions, on versioned subjects, both through the issuer's outbox:

- v2 (``BadgeCredentialIssuedV2`` / ``BadgeCredentialRevokedV2`` on ``issuer.v2.…``) carries
  no learner id, only the keyed ``learner_hash``: a consumer that must know the learner
  asks the issuer or the ledger with its own credentials;
- v1 (``issuer.v1.…``) also carries the raw ``learner_id``. It is deprecated: published
  beside v2 until ``V1_SUNSET`` (or until ``CREDIT_LEDGER_ISSUER_PUBLISH_V1=false``), then
  no longer published, then removed. v2 evolves by adding optional fields only.

Subjects carry the keyed hash, never the id, so subject-based monitoring and ACLs see no
personal identifier. Message ids derive from the award id (and the version), so a
re-publish (an outbox retry, another issuer replica) is dropped by the broker.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

import msgspec

from proto.types import Code, LearnerId, Reason, Version

ISSUER_STREAM = "ISSUER"
ISSUER_SUBJECT_PREFIX = "issuer.v1"  # v1 credential messages and every dead letter
ISSUER_V2_SUBJECT_PREFIX = "issuer.v2"
# Every subject of the ISSUER stream: both versions.
ISSUER_SUBJECTS: tuple[str, ...] = (f"{ISSUER_SUBJECT_PREFIX}.>", f"{ISSUER_V2_SUBJECT_PREFIX}.>")
# The last day v1 messages are published by default (CREDIT_LEDGER_ISSUER_PUBLISH_V1).
V1_SUNSET = "2027-06-30"
V1_DEPRECATION = (
    f"Deprecated: carries the raw learner_id. Published beside v2 until {V1_SUNSET} (an"
    " operator may stop it earlier with CREDIT_LEDGER_ISSUER_PUBLISH_V1=false), then no"
    " longer published by default, then removed. Consume the v2 message instead."
)
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
    """An Open Badges 3.0 AchievementCredential was signed for an award (v1, deprecated).

    Deprecated: carries the raw learner_id; see BadgeCredentialIssuedV2.
    """

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
    """A credential's status bit was set: its award was revoked (v1, deprecated).

    Deprecated: carries the raw learner_id; see BadgeCredentialRevokedV2.
    """

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


class BadgeCredentialIssuedV2(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """An Open Badges 3.0 AchievementCredential was signed for an award (v2: no learner id).

    The learner appears only as learner_hash, the keyed hash the subject carries too.
    """

    message_id: Uuid
    credential_id: Annotated[str, msgspec.Meta(description="The credential's id (urn:uuid:...).")]
    award_id: Uuid
    learner_hash: LearnerHash
    qualification_code: Code
    qualification_version: Version
    award_generation: Annotated[int, msgspec.Meta(ge=0)]
    credential_url: Annotated[str, msgspec.Meta(description="Where the signed credential is.")]
    status_list_url: str
    status_list_index: Annotated[int, msgspec.Meta(ge=0)]
    key_id: Annotated[
        str, msgspec.Meta(description="The kid the credential was signed with (a DID URL).")
    ]
    valid_from: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    issued_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]


class BadgeCredentialRevokedV2(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A credential's status bit was set: its award was revoked (v2: no learner id).

    The learner appears only as learner_hash, the keyed hash the subject carries too.
    """

    message_id: Uuid
    credential_id: str
    award_id: Uuid
    learner_hash: LearnerHash
    qualification_code: Code
    status_list_url: str
    status_list_index: Annotated[int, msgspec.Meta(ge=0)]
    reason: Reason
    revoked_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]


ISSUER_MESSAGE_TYPES: tuple[type[msgspec.Struct], ...] = (
    BadgeCredentialIssued,
    BadgeCredentialRevoked,
    BadgeCredentialIssuedV2,
    BadgeCredentialRevokedV2,
)
# Message name -> (the message family, its version): v2 of a family is a Struct of its own.
ISSUER_MESSAGE_VERSIONS: dict[str, tuple[str, int]] = {
    "BadgeCredentialIssued": ("BadgeCredentialIssued", 1),
    "BadgeCredentialRevoked": ("BadgeCredentialRevoked", 1),
    "BadgeCredentialIssuedV2": ("BadgeCredentialIssued", 2),
    "BadgeCredentialRevokedV2": ("BadgeCredentialRevoked", 2),
}
ISSUER_DEPRECATED: dict[str, str] = {
    "BadgeCredentialIssued": V1_DEPRECATION,
    "BadgeCredentialRevoked": V1_DEPRECATION,
}
IssuerMessage = (
    BadgeCredentialIssued
    | BadgeCredentialRevoked
    | BadgeCredentialIssuedV2
    | BadgeCredentialRevokedV2
)
issuer_message_decoder = msgspec.json.Decoder(IssuerMessage)


def issued_message_id(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"issued/{award_id}"))


def revoked_message_id(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"revoked/{award_id}"))


def issued_message_id_v2(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"issued/v2/{award_id}"))


def revoked_message_id_v2(award_id: str) -> str:
    return str(uuid.uuid5(ISSUER_NAMESPACE, f"revoked/v2/{award_id}"))


def issued_subject(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v1.credential.issued.<qualification>.<learner-hash>`` (deprecated)."""
    return _subject(ISSUER_SUBJECT_PREFIX, "credential.issued", qualification_code, learner_hash)


def revoked_subject(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v1.credential.revoked.<qualification>.<learner-hash>`` (deprecated)."""
    return _subject(ISSUER_SUBJECT_PREFIX, "credential.revoked", qualification_code, learner_hash)


def issued_subject_v2(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v2.credential.issued.<qualification>.<learner-hash>``."""
    return _subject(ISSUER_V2_SUBJECT_PREFIX, "credential.issued", qualification_code, learner_hash)


def revoked_subject_v2(qualification_code: str, learner_hash: str) -> str:
    """``issuer.v2.credential.revoked.<qualification>.<learner-hash>``."""
    return _subject(
        ISSUER_V2_SUBJECT_PREFIX, "credential.revoked", qualification_code, learner_hash
    )


def issued_v2_of(message: BadgeCredentialIssued) -> BadgeCredentialIssuedV2:
    """The v2 message of a v1 one: the same facts without the learner id."""
    fields = {f: getattr(message, f) for f in BadgeCredentialIssuedV2.__struct_fields__}
    return BadgeCredentialIssuedV2(
        **{**fields, "message_id": issued_message_id_v2(message.award_id)}
    )


def revoked_v2_of(message: BadgeCredentialRevoked) -> BadgeCredentialRevokedV2:
    """The v2 message of a v1 one: the same facts without the learner id."""
    fields = {f: getattr(message, f) for f in BadgeCredentialRevokedV2.__struct_fields__}
    return BadgeCredentialRevokedV2(
        **{**fields, "message_id": revoked_message_id_v2(message.award_id)}
    )


def dead_letter_subject(consumer: str) -> str:
    """Where a message goes after it failed its configured number of deliveries."""
    return _subject(ISSUER_SUBJECT_PREFIX, "dead-letter", consumer)


DEAD_LETTER_ADDRESS = f"{ISSUER_SUBJECT_PREFIX}.dead-letter.{{consumer}}"
ORIGINAL_SUBJECT_HEADER = "Issuer-Original-Subject"
ORIGINAL_STREAM_HEADER = "Issuer-Original-Stream"
ORIGINAL_SEQUENCE_HEADER = "Issuer-Original-Sequence"
DELIVERIES_HEADER = "Issuer-Deliveries"
ERROR_HEADER = "Issuer-Error"
ERROR_HEADER_MAX_CHARS = 500
# A dead letter's payload is the failed message's, unchanged; these headers say what it was.
DEAD_LETTER_HEADERS = {
    ORIGINAL_SUBJECT_HEADER: "The subject the message was delivered on.",
    ORIGINAL_STREAM_HEADER: "The stream it came from (LEDGER or CREDIT).",
    ORIGINAL_SEQUENCE_HEADER: "Its sequence in that stream.",
    DELIVERIES_HEADER: "How many times it was delivered before it was given up.",
    ERROR_HEADER: f"The last error, at most {ERROR_HEADER_MAX_CHARS} characters.",
}


def _subject(prefix: str, kind: str, *tokens: str) -> str:
    for token in tokens:
        # A '.', '*' or '>' in a token would change which filters match the subject.
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a single subject token")
    return ".".join((prefix, kind, *tokens))
