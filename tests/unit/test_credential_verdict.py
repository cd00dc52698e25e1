"""What the pages say of a verification (pure): the verdict in plain words, what is shown
of a credential (nothing when its content cannot be trusted), and which references name
this issuer's own credentials."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.issuer.credential_summary import NotASummary, summarize_credential
from services.issuer.credentials.vc_jwt import Check, VerificationReport
from services.issuer.http.pages import credential_id_in, token_in
from services.issuer.pages.verdict import Revocation, outcome_of

OK, FAIL = Check(ok=True, reason="fine"), Check(ok=False, reason="the signature does not hold")
SKIPPED = Check(ok=False, reason="not checked: the signature could not be checked")
PAYLOAD = {
    "id": "urn:uuid:5f1e6a70-0000-4000-8000-000000000001",
    "name": "Advanced CNC Machining",
    "validFrom": "2026-03-02T10:00:00Z",
    "awardedDate": "2026-03-02T10:00:00Z",
    "issuer": {"id": "did:web:example", "name": "Skill Council", "url": "https://example"},
    "credentialSubject": {
        "creditsEarned": 12,
        "result": [{"value": "49.50"}],
        "achievement": {
            "name": "Advanced CNC Machining",
            "humanCode": "ADV-CNC-MACHINING",
            "achievementType": "Certificate",
            "alignment": [{"targetCode": "4.5"}],
        },
    },
    "evidence": [
        {
            "name": "CNC-FUND: CNC Fundamentals",
            "description": "Assessment EX-1 passed at NSTI-CHENNAI (training), NSQF level 4,"
            " 60 notional hours (2.00 credits).",
        },
        {"name": "CNC-OLD", "description": "an older wording"},
    ],
}


def _report(
    signature: Check = OK, key: Check = OK, validity: Check = OK, status: Check = OK
) -> VerificationReport:
    return VerificationReport(
        valid=all(c.ok for c in (signature, key, validity, status)),
        signature=signature,
        issuer_key=key,
        validity=validity,
        status=status,
    )


def test_a_valid_credential_is_genuine_and_summarized() -> None:
    outcome = outcome_of(_report(), PAYLOAD)
    assert (outcome.state, outcome.headline) == ("valid", "Genuine and in force")
    assert outcome.summary is not None
    assert outcome.summary.nsqf_level == "4.5"
    assert outcome.summary.awarded_on == "2026-03-02"
    first, older = outcome.summary.components
    assert (first.institution_id, first.mode, first.hours, first.credits) == (
        "NSTI-CHENNAI",
        "training",
        60,
        "2.00",
    )
    assert older.institution_id is None
    assert older.description == "an older wording"


def test_a_revoked_credential_says_when_and_why() -> None:
    revoked = Revocation(dt.datetime(2026, 5, 1, tzinfo=dt.UTC), "fraud: forged marks sheet")
    outcome = outcome_of(_report(status=FAIL), PAYLOAD, revoked)
    assert outcome.state == "revoked"
    assert "revoked it on 2026-05-01: fraud: forged marks sheet." in outcome.explanation[0]
    unknown = outcome_of(_report(status=FAIL), PAYLOAD)
    assert "status list marks it revoked" in unknown.explanation[0]


def test_nothing_is_shown_of_a_credential_that_cannot_be_trusted() -> None:
    outcome = outcome_of(_report(signature=FAIL, validity=SKIPPED, status=SKIPPED), PAYLOAD)
    assert outcome.state == "invalid"
    assert outcome.summary is None
    assert outcome.explanation[0] == "It cannot be relied on: the signature does not hold."
    # A key this issuer does not publish: the first failure on its own is named.
    other_key = Check(ok=False, reason="not a key this issuer publishes")
    outcome = outcome_of(_report(signature=SKIPPED, key=other_key), PAYLOAD)
    assert "not a key this issuer publishes" in outcome.explanation[0]


def test_an_expired_credential_is_not_valid_but_still_summarized() -> None:
    outcome = outcome_of(_report(validity=Check(ok=False, reason="expired")), PAYLOAD)
    assert outcome.state == "invalid"
    assert outcome.summary is not None


def test_a_payload_of_another_shape_is_no_summary() -> None:
    with pytest.raises(NotASummary):
        summarize_credential({"id": "x"})
    assert outcome_of(_report(), {"id": "x"}).summary is None


ID = uuid.UUID("5f1e6a70-0000-4000-8000-000000000001")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (f"https://issuer.example/v1/credentials/{ID}", ID),
        (f"https://issuer.example/v1/credentials/{ID}?format=html", ID),
        (f"/v1/credentials/{ID}", ID),
        (f"urn:uuid:{ID}", ID),
        (f"  {ID} ", ID),
        (f"https://evil.example/v1/credentials/{ID}", None),
        (f"https://issuer.example.evil.example/v1/credentials/{ID}", None),
        (f"https://issuer.example/v1/credentials/{ID}/../../admin", None),
        ("http://169.254.169.254/latest/meta-data", None),
        ("", None),
    ],
)
def test_only_this_issuers_references_name_a_credential(
    reference: str, expected: uuid.UUID | None
) -> None:
    assert credential_id_in(reference, "https://issuer.example") == expected


def test_the_token_in_pasted_text() -> None:
    assert token_in("a.b.c") == "a.b.c"
    assert token_in('{"jwt": " a.b.c ", "credential": {}}') == "a.b.c"
    assert token_in('{"credential": {}}') is None
    assert token_in("{not json") == "{not json"
