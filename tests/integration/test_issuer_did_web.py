"""A did:web verifier accepts the issuer's credentials: starting from the DID alone it fetches
did.json over HTTP, resolves the token's kid to a verification method and checks the
signature with its publicKeyJwk, using PyJWT (the issuer signs with joserfc)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt
import pytest

from services.issuer.credentials.jws import b64url_decode, b64url_encode
from tests.support.issuer import CERTIFICATE, holds, pass_modules, running_issuer
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def did_web_document_url(did: str) -> str:
    """The did:web method's DID -> URL (https, except on loopback where http is allowed)."""
    method, _, rest = did.partition(":web:")
    if method != "did" or not rest:
        raise ValueError(f"{did} is not a did:web")
    host, *path = (unquote(part) for part in rest.split(":"))
    hostname = urlsplit(f"//{host}").hostname
    scheme = "http" if hostname in LOOPBACK else "https"
    suffix = "/".join(path) + "/did.json" if path else ".well-known/did.json"
    return f"{scheme}://{host}/{suffix}"


def resolve(document: dict[str, Any], kid: str) -> dict[str, Any]:
    """The publicKeyJwk of the verification method ``kid`` names, if it may assert."""
    did, _, _ = kid.partition("#")
    if did != document["id"]:
        raise LookupError(f"{kid} is not a key of {document['id']}")
    if kid not in document["assertionMethod"]:
        raise LookupError(f"{kid} may not sign credentials")
    methods = [m for m in document["verificationMethod"] if m["id"] == kid]
    if len(methods) != 1 or methods[0]["controller"] != did:
        raise LookupError(f"{document['id']} lists no single verification method {kid}")
    method = methods[0]
    jwk: dict[str, Any] = method["publicKeyJwk"]
    return jwk


async def verify_from_the_did(token: str) -> dict[str, Any]:
    """What a did:web verifier does, knowing nothing but the token."""
    header = jwt.get_unverified_header(token)
    kid = header["kid"]
    did = kid.partition("#")[0]
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(did_web_document_url(did))
    response.raise_for_status()
    jwk = resolve(response.json(), kid)
    key = jwt.PyJWK(jwk)
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key.key,
        algorithms=[jwk["alg"]],
        issuer=did,
        options={"require": ["iss", "jti", "nbf", "sub"]},
    )
    return claims


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_did_web_verifier_accepts_an_issued_credential(
    alg: str, database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    learner = {"RS256": "880000000001", "ES256": "880000000002", "EdDSA": "880000000003"}[alg]
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(
            ledger, database_url, nats.url, tmp_path, CREDIT_LEDGER_ISSUER_ALG=alg
        ) as issuer,
    ):
        await pass_modules(ledger, learner)
        [credential] = await issuer.wait_for(learner, holds(CERTIFICATE))
        token = credential["jwt"]
        header = jwt.get_unverified_header(token)
        assert header["alg"] == alg
        assert header["kid"].startswith("did:web:127.0.0.1%3A")
        assert did_web_document_url(header["kid"].partition("#")[0]) == (
            f"{str(issuer.client.base_url).rstrip('/')}/.well-known/did.json"
        )

        claims = await verify_from_the_did(token)
        assert claims["jti"] == credential["credential_id"]
        assert claims["iss"] == claims["issuer"]["id"] == header["kid"].partition("#")[0]

        # The same verifier refuses a tampered credential and a kid the DID does not list.
        head, payload, signature = token.split(".")
        altered = dict(json.loads(b64url_decode(payload)), name="Doctor of Everything")
        forged = f"{head}.{b64url_encode(json.dumps(altered).encode())}.{signature}"
        with pytest.raises(jwt.InvalidSignatureError):
            await verify_from_the_did(forged)
        unknown = dict(header, kid=header["kid"].partition("#")[0] + "#not-a-key")
        relabelled = f"{b64url_encode(json.dumps(unknown).encode())}.{payload}.{signature}"
        with pytest.raises(LookupError, match="may not sign"):
            await verify_from_the_did(relabelled)

        # The older key-URL kid form stays resolvable through the JWKS, for older credentials.
        jwks = (await issuer.client.get("/.well-known/jwks.json")).json()
        kids = {k["kid"] for k in jwks["keys"]}
        thumbprint = header["kid"].partition("#")[2]
        assert header["kid"] in kids
        assert f"{str(issuer.client.base_url).rstrip('/')}/v1/keys/{thumbprint}" in kids
