"""The issuer's v2 messages: the v1 facts without the learner id, on issuer.v2 subjects that
the ISSUER stream covers, with message ids of their own."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from proto.issuer import (
    ISSUER_SUBJECTS,
    BadgeCredentialIssued,
    BadgeCredentialIssuedV2,
    BadgeCredentialRevoked,
    BadgeCredentialRevokedV2,
    issued_message_id,
    issued_subject_v2,
    issued_v2_of,
    issuer_message_decoder,
    revoked_message_id,
    revoked_subject_v2,
    revoked_v2_of,
)
from services.issuer.nats_setup import issuer_stream_config

AWARD = str(uuid.uuid4())
HASH = "0123456789abcdef0123456789abcdef"
AT = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)

ISSUED = BadgeCredentialIssued(
    message_id=issued_message_id(AWARD),
    credential_id=f"urn:uuid:{uuid.uuid4()}",
    award_id=AWARD,
    learner_id="123456789012",
    learner_hash=HASH,
    qualification_code="ADV-CNC-MACHINING",
    qualification_version=1,
    award_generation=0,
    credential_url="https://issuer.example.in/v1/credentials/x",
    status_list_url="https://issuer.example.in/v1/status-lists/1",
    status_list_index=7,
    key_id="did:web:issuer.example.in#abc",
    valid_from=AT,
    issued_at=AT,
)
REVOKED = BadgeCredentialRevoked(
    message_id=revoked_message_id(AWARD),
    credential_id=ISSUED.credential_id,
    award_id=AWARD,
    learner_id="123456789012",
    learner_hash=HASH,
    qualification_code="ADV-CNC-MACHINING",
    status_list_url=ISSUED.status_list_url,
    status_list_index=7,
    reason="missing required CNC-FUND",
    revoked_at=AT,
)


def test_v2_carries_every_v1_fact_but_the_learner_id() -> None:
    for v1, v2 in ((ISSUED, issued_v2_of(ISSUED)), (REVOKED, revoked_v2_of(REVOKED))):
        assert "learner_id" not in type(v2).__struct_fields__
        assert "123456789012" not in msgspec.json.encode(v2).decode()
        kept = set(type(v1).__struct_fields__) - {"learner_id", "message_id"}
        assert kept == set(type(v2).__struct_fields__) - {"message_id"}
        assert all(getattr(v1, f) == getattr(v2, f) for f in kept)
        assert v2.message_id != v1.message_id
        assert issuer_message_decoder.decode(msgspec.json.encode(v2)) == v2
        assert issuer_message_decoder.decode(msgspec.json.encode(v1)) == v1


def test_v2_decodes_by_its_own_type_tag() -> None:
    data = msgspec.json.decode(msgspec.json.encode(issued_v2_of(ISSUED)))
    assert data["type"] == "BadgeCredentialIssuedV2"
    assert isinstance(
        issuer_message_decoder.decode(msgspec.json.encode(data)), BadgeCredentialIssuedV2
    )
    data = msgspec.json.decode(msgspec.json.encode(revoked_v2_of(REVOKED)))
    assert isinstance(
        issuer_message_decoder.decode(msgspec.json.encode(data)), BadgeCredentialRevokedV2
    )
    with pytest.raises(msgspec.ValidationError):
        issuer_message_decoder.decode(msgspec.json.encode({**data, "learner_hash": "123456789012"}))


def test_v2_subjects_are_covered_by_the_stream() -> None:
    assert issued_subject_v2("ADV-CNC-MACHINING", HASH) == (
        f"issuer.v2.credential.issued.ADV-CNC-MACHINING.{HASH}"
    )
    assert revoked_subject_v2("ADV-CNC-MACHINING", HASH).startswith("issuer.v2.credential.revoked.")
    assert (
        issuer_stream_config(1).subjects == list(ISSUER_SUBJECTS) == ["issuer.v1.>", "issuer.v2.>"]
    )
    with pytest.raises(ValueError, match="single subject token"):
        issued_subject_v2("ADV-CNC-MACHINING", "a.b")
