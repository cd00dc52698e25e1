"""The learner's whole record as one signed, portable transcript: a 1EdTech Comprehensive
Learner Record 2.0 ``ClrCredential`` (pure; signed as a VC-JWT like every credential here).

Its subject (``ClrSubject``) is the learner's pseudonymous subject, as in their
qualifications' credentials, with an identity hash salted for this transcript. It holds:

- each pass that counts today, as an embedded ``AchievementCredential`` this issuer
  states from the ledger's record (the micro-credential as the achievement, its NSQF level,
  sector and credits; the assessment, its institution and its log position as evidence);
- each qualification held, as the credential the issuer signed for it (its payload);
- an ``Association`` from each qualification to the passes it was awarded for.

A transcript is a snapshot ("as of" its ``validFrom``) and carries no status entry:
its qualifications' own credentials carry theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from services.issuer.credentials.achievement import (
    OB_CONTEXT,
    IssuerProfile,
    exact_decimal,
)
from services.issuer.credentials.identity import LearnerIdentity
from services.issuer.credentials.status_list import VC_V2_CONTEXT, rfc3339

CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
CLR_SCHEMA_ID = (
    "https://purl.imsglobal.org/spec/clr/v2p0/schema/json/clr_v2p0_clrcredential_schema.json"
)
SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
# The claims a VC-JWT adds to a credential (achievement.jwt_claims): not the credential's.
_JWT_CLAIMS = frozenset({"iss", "jti", "nbf", "sub", "exp"})


@dataclass(frozen=True)
class HeldPass:
    institution_id: str
    institution_name: str
    assessment_id: str
    code: str
    title: str
    mode: str
    level: str
    sector: str
    notional_hours: int
    credits_exact: str  # "p/q" or an integer, as the projector gives it
    assessed_on: dt.date
    position: int

    @property
    def achievement_id(self) -> str:
        return f"urn:credit-ledger:micro-credential:{self.code}"

    @property
    def credential_id(self) -> str:
        return f"urn:credit-ledger:pass:{self.institution_id}:{self.assessment_id}"


def build_transcript(
    *,
    transcript_id: str,
    issuer: IssuerProfile,
    identity: LearnerIdentity,
    issued_at: dt.datetime,
    passes: Sequence[HeldPass],
    qualifications: Sequence[Mapping[str, Any]],
    nsqf_url: str,
) -> dict[str, Any]:
    """The unsigned ``ClrCredential``; ``qualifications`` are the payloads of the learner's
    active qualification credentials (as signed)."""
    if not passes and not qualifications:
        raise ValueError("a transcript holds at least one pass or qualification")
    issuer_profile = {"id": issuer.id, "type": ["Profile"], "name": issuer.name, "url": issuer.url}
    embedded = [_pass_credential(p, issuer_profile, identity.subject_id, nsqf_url) for p in passes]
    embedded += [_as_credential(q) for q in qualifications]
    associations = [
        {
            "type": "Association",
            "associationType": "isPartOf",
            "sourceId": f"urn:credit-ledger:micro-credential:{code}",
            "targetId": q["credentialSubject"]["achievement"]["id"],
        }
        for q in qualifications
        for code in _component_codes(q)
    ]
    subject: dict[str, Any] = {
        "id": identity.subject_id,
        "type": ["ClrSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": identity.identity_hash,
                "identityType": identity.identity_type,
                "hashed": True,
                "salt": identity.salt,
            }
        ],
        "verifiableCredential": embedded,
    }
    if associations:
        subject["association"] = associations
    valid_from = rfc3339(issued_at)
    return {
        "@context": [VC_V2_CONTEXT, CLR_CONTEXT, OB_CONTEXT],
        "id": transcript_id,
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": "Comprehensive Learner Record",
        "description": (
            f"Every pass that counts and every qualification held, as the credit ledger"
            f" recorded them, on {valid_from[:10]}."
        ),
        "issuer": issuer_profile,
        "validFrom": valid_from,
        "awardedDate": valid_from,
        "partial": False,
        "credentialSubject": subject,
        "credentialSchema": [{"id": CLR_SCHEMA_ID, "type": SCHEMA_TYPE}],
    }


def _pass_credential(
    held: HeldPass, issuer: Mapping[str, Any], subject_id: str, nsqf_url: str
) -> dict[str, Any]:
    credits = exact_decimal(Fraction(held.credits_exact))
    mode = "recognition of prior learning" if held.mode == "rpl" else "training"
    return {
        "@context": [VC_V2_CONTEXT, OB_CONTEXT],
        "id": held.credential_id,
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": held.title,
        "issuer": dict(issuer),
        "validFrom": f"{held.assessed_on.isoformat()}T00:00:00Z",
        "credentialSubject": {
            "id": subject_id,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": held.achievement_id,
                "type": ["Achievement"],
                "achievementType": "Competency",
                "name": held.title,
                "description": f"The NSQF micro-credential {held.code}: {held.title}.",
                "criteria": {
                    "narrative": f"Pass the assessment of {held.code} at an accredited institution."
                },
                "humanCode": held.code,
                "fieldOfStudy": held.sector,
                "tag": [held.sector, f"NSQF {held.level}"],
                "alignment": [
                    {
                        "type": ["Alignment"],
                        "targetName": f"NSQF level {held.level}",
                        "targetFramework": "National Skills Qualifications Framework (NSQF)",
                        "targetCode": held.level,
                        "targetType": "ext:NSQFLevel",
                        "targetUrl": nsqf_url,
                    }
                ],
            },
            "creditsEarned": credits,
        },
        "evidence": [
            {
                "type": ["Evidence"],
                "name": f"Assessment {held.assessment_id}",
                "description": (
                    f"Passed at {held.institution_name} ({held.institution_id}) by {mode},"
                    f" assessed {held.assessed_on.isoformat()}, {held.notional_hours} notional"
                    f" hours; recorded at position {held.position} of the credit ledger's log."
                ),
                "genre": "Assessment pass",
            }
        ],
    }


def _as_credential(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in _JWT_CLAIMS}


def _component_codes(payload: Mapping[str, Any]) -> list[str]:
    codes = []
    for evidence in payload.get("evidence", []):
        code = str(evidence.get("name", "")).partition(":")[0]
        if code:
            codes.append(code)
    return codes
