"""The CLR 2.0 transcript (pure): what it holds, and that it meets the official
ClrCredential schema with passes only, or passes and a qualification."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.issuer.credentials.achievement import IssuerProfile
from services.issuer.credentials.identity import identity_for
from services.issuer.credentials.transcript import HeldPass, build_transcript
from tests.support.issuer import clr_schema_errors

ISSUER = IssuerProfile(
    id="did:web:issuer.example", name="Skill Council", url="https://issuer.example"
)
PASS = HeldPass(
    institution_id="NSTI-CHENNAI",
    institution_name="National Skill Training Institute, Chennai",
    assessment_id="EX-1",
    code="CNC-FUND",
    title="CNC Fundamentals",
    mode="rpl",
    level="4",
    sector="CAPITAL-GOODS",
    notional_hours=60,
    credits_exact="2",
    assessed_on=dt.date(2026, 3, 1),
    position=29,
)
QUALIFICATION: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ],
    "id": "urn:uuid:5f1e6a70-0000-4000-8000-000000000001",
    "type": ["VerifiableCredential", "OpenBadgeCredential", "AchievementCredential"],
    "name": "Advanced CNC Machining",
    "issuer": {"id": ISSUER.id, "type": ["Profile"], "name": ISSUER.name},
    "validFrom": "2026-03-02T10:00:00Z",
    "credentialSubject": {
        "id": "urn:uuid:00000000-0000-4000-8000-000000000002",
        "type": ["AchievementSubject"],
        "achievement": {
            "id": "urn:credit-ledger:qualification:ADV-CNC-MACHINING:v1",
            "type": ["Achievement"],
            "name": "Advanced CNC Machining",
            "description": "Advanced CNC Machining",
            "criteria": {"narrative": "Hold all of: CNC-FUND."},
            "humanCode": "ADV-CNC-MACHINING",
        },
    },
    "evidence": [{"type": ["Evidence"], "name": "CNC-FUND: CNC Fundamentals"}],
    "iss": ISSUER.id,
    "jti": "urn:uuid:5f1e6a70-0000-4000-8000-000000000001",
    "nbf": 1772445600,
}


def _transcript(passes: list[HeldPass], qualifications: list[dict[str, Any]]) -> dict[str, Any]:
    return build_transcript(
        transcript_id="urn:uuid:9d0c1a8e-0000-4000-8000-000000000003",
        issuer=ISSUER,
        identity=identity_for("a-secret-of-enough-length-0123", "123456789012", "t-1"),
        issued_at=dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC),
        passes=passes,
        qualifications=qualifications,
        nsqf_url="https://www.nqr.gov.in/",
    )


def test_passes_and_a_qualification_meet_the_clr_schema() -> None:
    transcript = _transcript([PASS], [QUALIFICATION])
    assert clr_schema_errors(transcript) == []
    first, second = transcript["credentialSubject"]["verifiableCredential"]
    assert first["credentialSubject"]["creditsEarned"] == 2
    assert "recognition of prior learning" in first["evidence"][0]["description"]
    assert "position 29" in first["evidence"][0]["description"]
    assert not {"iss", "jti", "nbf"} & set(second)  # the qualification as a credential
    [association] = transcript["credentialSubject"]["association"]
    assert association["sourceId"] == "urn:credit-ledger:micro-credential:CNC-FUND"
    assert "123456789012" not in str(transcript)


def test_passes_alone_meet_the_schema_and_an_empty_record_is_no_transcript() -> None:
    assert clr_schema_errors(_transcript([PASS], [])) == []
    with pytest.raises(ValueError, match="at least one"):
        _transcript([], [])
