"""The OB 3.0 AchievementCredential of an award, signed as VC-JWT, and its verification."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from credit_ledger.demo_catalog import QUALIFICATIONS
from services.issuer.credentials.achievement import (
    ENCODER,
    IssuerProfile,
    build_credential,
    jwt_claims,
)
from services.issuer.credentials.did import did_web
from services.issuer.credentials.identity import (
    identity_for,
    identity_hash,
    identity_matches,
    learner_pseudonym,
    pseudonym_matches,
)
from services.issuer.credentials.jws import b64url_decode, b64url_encode, encode_compact
from services.issuer.credentials.keys import (
    KeySet,
    ensure_dev_keys,
    generate_key,
    key_set,
    public_jwk_members,
)
from services.issuer.credentials.status_list import StatusEntry
from services.issuer.credentials.vc_jwt import (
    VerificationReport,
    sign_credential,
    verify_credential,
)
from tests.support.domain_examples import ADV_CNC_COMPONENTS, LEARNER, LearnerLog, demo_rule
from tests.support.domain_examples import passes_of as passes
from tests.support.issuer import SALT, schema_errors

PUBLIC_URL = "https://issuer.example.in"
ISSUER = IssuerProfile(id=did_web(PUBLIC_URL), name="Example issuer", url=PUBLIC_URL)
LISTS = f"{PUBLIC_URL}/v1/status-lists/"
AWARDED_AT = dt.datetime(2026, 3, 2, 14, 0, 30, 123456, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CERT_RULE = next(q for q in QUALIFICATIONS if q.code == "ADV-CNC-MACHINING")
TITLES = {"CNC-FUND": "CNC Fundamentals", "CNC-QC": "Quality Control in Machining"}


def credential(**changes: Any) -> dict[str, Any]:
    log = LearnerLog().record(*passes(ADV_CNC_COMPONENTS))
    award = log.award(demo_rule("ADV-CNC-MACHINING"))
    built = build_credential(
        credential_id="urn:uuid:6e1c2b1a-0d0e-4c9a-9f6b-2f5d0c3b7a11",
        issuer=ISSUER,
        award=award,
        awarded_at=AWARDED_AT,
        rule=CERT_RULE,
        qualification_codes=frozenset({"ADV-CNC-MACHINING"}),
        titles=TITLES,
        identity=identity_for(SALT, LEARNER, award.award_id),
        status_list_url=f"{LISTS}1",
        status=StatusEntry(1, 42),
        nsqf_url="https://www.ncvet.gov.in/",
    )
    return {**built, **changes}


def as_json(document: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(ENCODER.encode(document))
    return decoded


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    return key_set(ensure_dev_keys(tmp_path_factory.mktemp("keys")), "RS256", None, PUBLIC_URL)


def test_the_credential_is_a_valid_ob_3_achievement_credential() -> None:
    document = as_json(credential())
    assert schema_errors(document) == []
    assert document["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    achievement = document["credentialSubject"]["achievement"]
    assert achievement["humanCode"] == "ADV-CNC-MACHINING"
    assert achievement["achievementType"] == "Certificate"
    assert achievement["creditsAvailable"] == 12
    assert achievement["fieldOfStudy"] == "CAPITAL-GOODS"
    assert achievement["alignment"][0]["targetCode"] == "4.5"
    assert "CNC-FUND, CNC-PROG" in achievement["criteria"]["narrative"]
    assert document["credentialSubject"]["creditsEarned"] == 12
    assert document["credentialSubject"]["result"][0]["value"] == "49.50"
    assert len(document["evidence"]) == 5
    assert document["evidence"][0]["name"].startswith("CNC-")
    assert document["validFrom"] == "2026-03-02T14:00:30Z"
    assert document["credentialStatus"]["statusListIndex"] == "42"


def test_the_learner_appears_only_as_a_keyed_hash_and_an_opaque_subject() -> None:
    document = credential()
    text = ENCODER.encode(document).decode()
    assert LEARNER not in text
    [identity] = document["credentialSubject"]["identifier"]
    assert identity["hashed"] is True
    assert identity["identityType"] == "ext:LearnerPseudonym"
    assert identity["identityHash"].startswith("sha256$")
    salt, hashed = identity["salt"], identity["identityHash"]
    assert identity_matches(SALT, LEARNER, salt, hashed, identity["identityType"])
    assert not identity_matches(SALT, "999999999999", salt, hashed, identity["identityType"])
    # Public data alone does not get there: the id itself, salted as OB 3.0 would, fails.
    assert not pseudonym_matches(LEARNER, salt, hashed)
    assert identity_hash(LEARNER, salt) != hashed
    # Whoever the learner gives their pseudonym to can bind the credential to them.
    assert pseudonym_matches(learner_pseudonym(SALT, LEARNER), salt, hashed)
    assert not pseudonym_matches(learner_pseudonym("another-secret-0123456", LEARNER), salt, hashed)
    assert document["credentialSubject"]["id"].startswith("urn:uuid:")


def test_a_credential_issued_before_the_pseudonym_is_still_recognised() -> None:
    salt = "0123456789abcdef0123456789abcdef"
    legacy = identity_hash(LEARNER, salt)  # sha256(learner id + salt), the old identityHash
    assert identity_matches(SALT, LEARNER, salt, legacy, "identifier")
    assert not identity_matches(SALT, LEARNER, salt, legacy, "ext:LearnerPseudonym")
    assert not identity_matches(SALT, "999999999999", salt, legacy, "identifier")


def test_jwt_claims_mirror_the_credential() -> None:
    document = credential(validUntil="2030-01-01T00:00:00Z")
    claims = jwt_claims(document)
    assert claims["iss"] == ISSUER.id
    assert claims["jti"] == document["id"]
    assert claims["sub"] == document["credentialSubject"]["id"]
    assert claims["nbf"] == int(AWARDED_AT.replace(microsecond=0).timestamp())
    assert claims["exp"] == int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp())
    assert "vc" not in claims


async def verify(token: str, keys: KeySet, revoked: bool = False) -> VerificationReport:
    async def status_of(list_id: int, index: int) -> bool | None:
        return revoked if (list_id, index) == (1, 42) else None

    return await verify_credential(
        token,
        keys=keys,
        issuer_id=ISSUER.id,
        status_list_prefix=LISTS,
        status_of=status_of,
        now=NOW,
    )


async def test_a_signed_credential_verifies(keys: KeySet) -> None:
    token, key = sign_credential(credential(), keys)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "RS256", "kid": f"{ISSUER.id}#{key.thumbprint}", "typ": "JWT"}
    report = await verify(token, keys)
    assert report.valid, report
    assert report.kid == keys.kid(key)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_credentials_signed_with_the_older_key_url_kid_still_verify(
    alg: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keys = key_set(ensure_dev_keys(tmp_path_factory.mktemp("k")), alg, None, PUBLIC_URL)  # type: ignore[arg-type]
    key = keys.active
    legacy = {"alg": key.alg, "kid": keys.key_url(key), "typ": "JWT"}
    token = encode_compact(legacy, ENCODER.encode(jwt_claims(credential())), key.jwk)
    report = await verify(token, keys)
    assert report.valid, report
    assert report.kid == f"{PUBLIC_URL}/v1/keys/{key.thumbprint}"
    # A DID URL of another DID does not name our key, though the fragment is ours.
    foreign = {**legacy, "kid": f"did:web:elsewhere.example#{key.thumbprint}"}
    token = encode_compact(foreign, ENCODER.encode(jwt_claims(credential())), key.jwk)
    report = await verify(token, keys)
    assert not report.issuer_key.ok


async def test_each_failure_is_reported_with_its_reason(keys: KeySet, tmp_path: Path) -> None:
    token, _ = sign_credential(credential(), keys)
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["credentialSubject"]["creditsEarned"] = 99
    tampered = f"{header}.{b64url_encode(msgspec.json.encode(claims))}.{signature}"
    report = await verify(tampered, keys)
    assert not report.signature.ok
    assert "altered or signed by another key" in report.signature.reason

    stranger = key_set(ensure_dev_keys(tmp_path), "RS256", None, PUBLIC_URL)
    forged, _ = sign_credential(credential(), stranger)
    report = await verify(forged, keys)
    assert not report.issuer_key.ok
    assert "not a key this issuer publishes" in report.issuer_key.reason

    none_header = b64url_encode(msgspec.json.encode({"alg": "none", "typ": "JWT"}))
    report = await verify(f"{none_header}.{payload}.AA", keys)
    assert not report.valid
    assert "'none' is never accepted" in report.signature.reason

    expired, _ = sign_credential(credential(validUntil="2026-04-01T00:00:00Z"), keys)
    report = await verify(expired, keys)
    assert report.signature.ok
    assert not report.validity.ok
    assert "expired" in report.validity.reason

    report = await verify(token, keys, revoked=True)
    assert not report.status.ok
    assert "revoked" in report.status.reason


async def test_an_embedded_jwk_is_not_trusted(keys: KeySet) -> None:
    stranger = generate_key("RS256")
    claims = jwt_claims(credential())
    header = {"alg": "RS256", "typ": "JWT", "jwk": public_jwk_members(stranger)}
    token = encode_compact(header, ENCODER.encode(claims), stranger)
    report = await verify(token, keys)
    assert not report.issuer_key.ok
    assert "embedded jwk is not trusted" in report.issuer_key.reason


async def test_a_credential_of_another_issuer_is_refused(keys: KeySet) -> None:
    other = {"id": "did:web:elsewhere.example", "type": ["Profile"], "name": "Elsewhere"}
    token, _ = sign_credential(credential(issuer=other), keys)
    report = await verify(token, keys)
    assert report.signature.ok
    assert not report.issuer_key.ok
    assert "not this issuer" in report.issuer_key.reason
