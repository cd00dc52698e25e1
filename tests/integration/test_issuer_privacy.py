"""A credential does not give its holder away: from an issued credential and everything public
(the credential, the issuer's DID, its keys, this code), no candidate learner id, the true
one included, can be confirmed. Credentials in the old form stay verifiable."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.issuer.credentials.achievement import ENCODER
from services.issuer.credentials.identity import (
    SUBJECT_NAMESPACE,
    identity_hash,
    identity_matches,
    learner_hash,
)
from services.issuer.credentials.jws import b64url_decode, encode_compact
from services.issuer.credentials.keys import key_set
from tests.support.issuer import CERTIFICATE, SALT, holds, pass_modules, revoke_pass, running_issuer
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

HOLDER = "870000004321"
OLD_HOLDER = "870000009876"
# Ids an attacker would try: neighbours, the first and last of the range, and the true one.
CANDIDATES = [
    "870000004320",
    "870000004322",
    "000000000000",
    "999999999999",
    "123456789012",
    HOLDER,
    "870000009876",
]


def _hex(name: str, data: str) -> str:
    return hashlib.new(name, data.encode()).hexdigest()


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def recomputations(candidate: str, public: list[str], salt: str) -> set[str]:
    """Every identity and subject id someone without the issuer's secret could compute for
    ``candidate`` from the public values: plain and salted hashes (OB 3.0's IdentityHash
    both ways round, MD5 too), HMACs keyed with any public value (the ones this code uses
    included), and the UUIDs of each of them in this code's namespace and the standard ones."""
    texts = {candidate, candidate + salt, salt + candidate}
    for key in ["", *public]:
        for label in ("", "learner/", "pseudonym/", "salt/"):
            mac = _mac(key, label + candidate)
            texts |= {mac, mac[:32], mac + salt, mac[:32] + salt}
    found = set()
    for text in texts:
        for name in ("sha256", "md5"):
            found |= {f"{name}${_hex(name, text)}", _hex(name, text)}
        for namespace in (
            SUBJECT_NAMESPACE,
            uuid.NAMESPACE_URL,
            uuid.NAMESPACE_DNS,
            uuid.NAMESPACE_OID,
            uuid.NAMESPACE_X500,
        ):
            found |= {f"urn:uuid:{uuid.uuid5(namespace, text)}"}
            found |= {f"urn:uuid:{uuid.uuid3(namespace, text)}"}
    return found


def public_values(token: str, credential: dict[str, Any], did: dict[str, Any]) -> list[str]:
    """Every string in the token's header and payload and in the issuer's DID document."""
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                values.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif node is not None:
            values.append(str(node))

    walk(json.loads(b64url_decode(token.split(".")[0])))
    walk(credential)
    walk(did)
    return sorted(set(values))


async def test_no_candidate_id_matches_the_public_data_of_an_issued_credential(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        await pass_modules(ledger, HOLDER)
        [issued] = await issuer.wait_for(HOLDER, holds(CERTIFICATE))
        base = str(issuer.client.base_url).rstrip("/")
        # What a verifier gets: the public credential, decoded from its JWT.
        public = (await issuer.client.get(issued["credential_url"].removeprefix(base))).json()
        token = public["jwt"]
        credential = json.loads(b64url_decode(token.split(".")[1]))
        did = (await issuer.client.get("/.well-known/did.json")).json()
        text = b64url_decode(token.split(".")[0]).decode() + json.dumps(credential)
        assert HOLDER not in text

        subject = credential["credentialSubject"]
        [identity] = subject["identifier"]
        salt, hashed = identity["salt"], identity["identityHash"]
        assert identity["identityType"] == "ext:LearnerPseudonym"
        values = public_values(token, credential, did)
        for candidate in CANDIDATES:
            derived = recomputations(candidate, values, salt)
            assert hashed not in derived, candidate
            assert subject["id"] not in derived, candidate
            assert not set(values) & derived, candidate

        # Controls: the same guesses do find a credential of the old form (sha256 of the id
        # and the printed salt), and with the issuer's secret the holder is recognised.
        legacy = identity_hash(HOLDER, salt)
        assert legacy in recomputations(HOLDER, values, salt)
        others = [c for c in CANDIDATES if c != HOLDER]
        assert not any(legacy in recomputations(c, values, salt) for c in others)
        assert identity_matches(SALT, HOLDER, salt, hashed, identity["identityType"])
        assert not identity_matches(SALT, CANDIDATES[0], salt, hashed, identity["identityType"])
        assert (
            subject["id"] == f"urn:uuid:{uuid.uuid5(SUBJECT_NAMESPACE, learner_hash(SALT, HOLDER))}"
        )
        assert (await issuer.verify(token))["valid"]


async def test_a_credential_of_the_old_form_stays_verifiable_and_keeps_its_status(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path / "issuer") as issuer,
    ):
        passes = await pass_modules(ledger, OLD_HOLDER)
        [issued] = await issuer.wait_for(OLD_HOLDER, holds(CERTIFICATE))
        claims = json.loads(b64url_decode(issued["jwt"].split(".")[1]))
        # The credential exactly as the issuer signed it before this change, for the same
        # award and status bit: sha256(learner id + salt) and the key URL as its kid.
        old = copy.deepcopy(claims)
        [identity] = old["credentialSubject"]["identifier"]
        identity["identityType"] = "identifier"
        identity["identityHash"] = identity_hash(OLD_HOLDER, identity["salt"])
        public_url = str(issuer.client.base_url).rstrip("/")
        keys = key_set(issuer.key_file, "RS256", None, public_url)
        kid = keys.key_url(keys.active)
        header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
        token = encode_compact(header, ENCODER.encode(old), keys.active.jwk)

        report = await issuer.verify(token)
        assert report["valid"], report
        assert report["kid"] == f"{public_url}/v1/keys/{keys.active.thumbprint}"
        assert identity_matches(
            SALT, OLD_HOLDER, identity["salt"], identity["identityHash"], "identifier"
        )
        # The old kid still dereferences to the key.
        jwk = (await issuer.client.get(kid.removeprefix(public_url))).json()
        assert (jwk["kid"], jwk["n"]) == (kid, keys.active.public_members()["n"])

        await revoke_pass(ledger, OLD_HOLDER, passes["CNC-QC"])
        await issuer.wait_for(OLD_HOLDER, holds(CERTIFICATE, active=False))
        report = await issuer.verify(token)
        assert report["signature"]["ok"]
        assert not report["status"]["ok"]
        assert "revoked" in report["status"]["reason"]
