"""The Open Badges 3.0 AchievementCredential of an award, and its VC-JWT claims (pure).

The credential follows OB 3.0 on the W3C VC Data Model 2.0: the qualification is the
Achievement (name, description, criteria narrative, achievementType, creditsAvailable,
humanCode, fieldOfStudy, an alignment to its NSQF level), the subject carries the credits
earned, the NCrF credit points as a result, and a keyed identity hash (of the learner's
pseudonym, see ``identity``) instead of the learner id; evidence names each component pass; credentialStatus points into a Bitstring
Status List. Per OB 3.0 §8.2 ("JSON Web Token Proof Format") the JWT payload is the
credential itself plus ``iss`` (issuer.id), ``jti`` (id), ``nbf`` (validFrom), ``sub``
(credentialSubject.id) and ``exp`` (validUntil) when there is one.

Credits are exact in the ledger; here they become JSON numbers rounded to two decimals
(``decimal.Decimal``, encoded as a number by ``ENCODER``), never floats.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import msgspec

from domain.units import HOURS_PER_CREDIT, display
from proto import events as ev
from services.issuer.credentials.identity import LearnerIdentity
from services.issuer.credentials.status_list import (
    VC_V2_CONTEXT,
    StatusEntry,
    rfc3339,
    status_entry_json,
)

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA_ID = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
OB_SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
NSQF_FRAMEWORK = "National Skills Qualifications Framework (NSQF)"
# JSON numbers for Decimals: credits stay exact decimal text, never a binary float.
ENCODER = msgspec.json.Encoder(decimal_format="number")
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    id: str  # the issuer's did:web
    name: str
    url: str


def achievement_id(code: str, version: int) -> str:
    return f"urn:credit-ledger:qualification:{code}:v{version}"


def exact_decimal(value: Fraction) -> Decimal:
    """Credits for JSON: two decimals, rounded half to even, as a Decimal (never a float)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(_CENT, rounding=ROUND_HALF_EVEN).normalize()


def _credits(hours: int) -> Decimal:
    return exact_decimal(Fraction(hours, HOURS_PER_CREDIT))


def criteria_narrative(rule: ev.QualificationDefined) -> str:
    parts = []
    if rule.required:
        parts.append(f"Hold all of: {', '.join(rule.required)}.")
    for group in rule.electives:
        parts.append(f"Hold at least {group.min_count} of: {', '.join(group.codes)}.")
    parts.append(
        f"Count at least {rule.min_credits} NCrF credits (1 credit = {HOURS_PER_CREDIT} notional"
        " hours) from the named micro-credentials and those of any required qualification,"
        " each micro-credential once, from passes that are neither revoked, redeemed nor past"
        " their shelf life."
    )
    if rule.min_component_level is not None:
        parts.append(f"Components below NSQF level {rule.min_component_level} do not count.")
    if rule.max_rpl_share is not None:
        parts.append(
            "Credits from recognition of prior learning count for at most"
            f" {rule.max_rpl_share} of the minimum."
        )
    return " ".join(parts)


def achievement_type(rule: ev.QualificationDefined, qualification_codes: frozenset[str]) -> str:
    """A qualification that stacks on another is a Diploma; one made of units, a Certificate."""
    named = {*rule.required, *(code for g in rule.electives for code in g.codes)}
    return "Diploma" if named & qualification_codes else "Certificate"


def _alignment(level: str, nsqf_url: str) -> dict[str, Any]:
    return {
        "type": ["Alignment"],
        "targetName": f"NSQF level {level}",
        "targetDescription": f"Level {level} of India's {NSQF_FRAMEWORK}.",
        "targetFramework": NSQF_FRAMEWORK,
        "targetCode": level,
        "targetType": "ext:NSQFLevel",
        "targetUrl": nsqf_url,
    }


def _evidence(component: ev.AwardComponent, titles: Mapping[str, str]) -> dict[str, Any]:
    code = component.micro_credential_code
    ref = component.pass_ref
    title = titles.get(code, code)
    return {
        "type": ["Evidence"],
        "name": f"{code}: {title}",
        "description": (
            f"Assessment {ref.assessment_id} passed at {ref.institution_id}"
            f" ({component.mode}), NSQF level {component.level},"
            f" {component.notional_hours} notional hours"
            f" ({display(Fraction(component.notional_hours, HOURS_PER_CREDIT))} credits)."
        ),
        "genre": "Assessment pass",
    }


def build_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    award: ev.QualificationAwarded,
    awarded_at: dt.datetime,
    rule: ev.QualificationDefined,
    qualification_codes: frozenset[str],
    titles: Mapping[str, str],
    identity: LearnerIdentity,
    status_list_url: str,
    status: StatusEntry,
    nsqf_url: str,
) -> dict[str, Any]:
    """The unsigned credential of ``award``, made under ``rule`` (the version it names)."""
    if rule.code != award.qualification_code or rule.version != award.qualification_version:
        raise ValueError(
            f"award {award.award_id} is {award.qualification_code} v{award.qualification_version},"
            f" the rule given is {rule.code} v{rule.version}"
        )
    achievement = achievement_id(rule.code, rule.version)
    points_id = f"{achievement}:credit-points"
    points = Fraction(award.credit_points)  # exact, as the award recorded it
    valid_from = rfc3339(awarded_at)
    return {
        "@context": [VC_V2_CONTEXT, OB_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential", "AchievementCredential"],
        "name": rule.title,
        "description": rule.description or rule.title,
        "issuer": {"id": issuer.id, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "validFrom": valid_from,
        "awardedDate": valid_from,
        "credentialSubject": {
            "id": identity.subject_id,
            "type": ["AchievementSubject"],
            "identifier": [_identity_object(identity)],
            "achievement": _achievement(rule, qualification_codes, points_id, nsqf_url),
            "creditsEarned": _credits(award.counted_hours),
            "result": [
                {"type": ["Result"], "resultDescription": points_id, "value": display(points)}
            ],
        },
        "evidence": [_evidence(c, titles) for c in award.components],
        "credentialStatus": status_entry_json(status_list_url, status),
        "credentialSchema": [{"id": OB_SCHEMA_ID, "type": OB_SCHEMA_TYPE}],
    }


def _identity_object(identity: LearnerIdentity) -> dict[str, Any]:
    return {
        "type": "IdentityObject",
        "identityHash": identity.identity_hash,
        "identityType": identity.identity_type,
        "hashed": True,
        "salt": identity.salt,
    }


def _achievement(
    rule: ev.QualificationDefined,
    qualification_codes: frozenset[str],
    points_id: str,
    nsqf_url: str,
) -> dict[str, Any]:
    return {
        "id": achievement_id(rule.code, rule.version),
        "type": ["Achievement"],
        "achievementType": achievement_type(rule, qualification_codes),
        "name": rule.title,
        "description": rule.description or rule.title,
        "criteria": {"narrative": criteria_narrative(rule)},
        "creditsAvailable": rule.min_credits,
        "humanCode": rule.code,
        "fieldOfStudy": rule.sector,
        "version": str(rule.version),
        "tag": [rule.sector, f"NSQF {rule.level}"],
        "alignment": [_alignment(rule.level, nsqf_url)],
        "resultDescription": [
            {
                "id": points_id,
                "type": ["ResultDescription"],
                "name": "NCrF credit points (credits x NSQF level)",
                "resultType": "ext:NCrFCreditPoints",
            }
        ],
    }


def jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """OB 3.0 §8.2: the credential with iss, jti, nbf, sub (and exp for validUntil)."""
    issuer = credential["issuer"]
    claims: dict[str, Any] = {
        **credential,
        "iss": issuer["id"] if isinstance(issuer, Mapping) else issuer,
        "jti": credential["id"],
        "nbf": _epoch(credential["validFrom"]),
    }
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping) and "id" in subject:
        claims["sub"] = subject["id"]
    if "validUntil" in credential:
        claims["exp"] = _epoch(credential["validUntil"])
    return claims


def _epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def encode_payload(claims: Mapping[str, Any]) -> bytes:
    return ENCODER.encode(claims)
