"""The CloudEvents headers of CREDIT's and ISSUER's messages (proto/cloudevents.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from proto.cloudevents import DERIVED_SUBJECTS, HEADER_NAMES, derived_headers, message_type
from proto.derived import DERIVED_TYPES, bank_subject, eligible_subject
from proto.issuer import (
    ISSUER_MESSAGE_TYPES,
    issued_subject,
    issued_subject_v2,
    revoked_subject,
    revoked_subject_v2,
)

LEARNER = "123456789012"
HASH = "3f1c0e9a5b7d4c2e8a6f1b0d9c7e5a31"
COMMITTED = dt.datetime(2026, 12, 3, 13, 0, 0, 123456, tzinfo=dt.UTC)

CASES = [
    (eligible_subject("ADV-CNC-MACHINING", LEARNER), "QualificationEligible", LEARNER, "credit", 1),
    (bank_subject(LEARNER), "CreditBankUpdated", LEARNER, "credit", 1),
    (issued_subject("ADV-CNC-MACHINING", HASH), "BadgeCredentialIssued", HASH, "issuer", 1),
    (revoked_subject("ADV-CNC-MACHINING", HASH), "BadgeCredentialRevoked", HASH, "issuer", 1),
    (issued_subject_v2("ADV-CNC-MACHINING", HASH), "BadgeCredentialIssued", HASH, "issuer", 2),
    (revoked_subject_v2("ADV-CNC-MACHINING", HASH), "BadgeCredentialRevoked", HASH, "issuer", 2),
]


def test_every_derived_message_type_has_a_subject() -> None:
    names = {t.__name__ for t in (*DERIVED_TYPES, *ISSUER_MESSAGE_TYPES)}
    assert set(DERIVED_SUBJECTS) == names


@pytest.mark.parametrize(("subject", "family", "about", "service", "version"), CASES)
def test_headers_follow_from_the_subject_and_the_row(
    subject: str, family: str, about: str, service: str, version: int
) -> None:
    headers = derived_headers(subject, "message-1", COMMITTED, "urn:credit-ledger:test")
    assert tuple(headers) == HEADER_NAMES
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "message-1"
    assert headers["ce-source"] == "urn:credit-ledger:test"
    assert headers["ce-type"] == f"org.credit-ledger.{service}.{family}.v{version}"
    assert headers["ce-subject"] == about
    assert headers["ce-time"] == "2026-12-03T13:00:00.123456Z"
    assert headers["content-type"] == "application/json"
    # The same row gives the same headers: a re-publish is indistinguishable.
    assert derived_headers(subject, "message-1", COMMITTED, "urn:credit-ledger:test") == headers


def test_an_issuer_message_never_names_the_learner() -> None:
    for subject, *_ in CASES:
        if subject.startswith("issuer."):
            assert LEARNER not in str(derived_headers(subject, "m", COMMITTED, "s"))


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
    headers = derived_headers(bank_subject(LEARNER), "m", COMMITTED.astimezone(kolkata), "s")
    assert headers["ce-time"] == "2026-12-03T13:00:00.123456Z"


def test_a_subject_outside_the_derived_streams_is_refused() -> None:
    with pytest.raises(ValueError, match="not a derived message subject"):
        message_type("ledger.v1.learner.12.123456789012.AssessmentPassed")
