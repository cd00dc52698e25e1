"""The issuer's did:web identifier and DID document (W3C DID Core, did:web method).

``https://host:port/path`` becomes ``did:web:host%3Aport:path``; the document lists every
published key as a JsonWebKey2020 verification method usable for assertions (signing
credentials), with the fragment being the key's RFC 7638 thumbprint. That DID URL is the
``kid`` credentials are signed with, so a did:web verifier resolves the issuer's DID,
finds the verification method whose ``id`` is the token's ``kid`` and checks the signature
with its ``publicKeyJwk``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from services.issuer.credentials.keys import KeySet

DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"]


def did_web(public_url: str) -> str:
    parts = urlsplit(public_url)
    if not parts.hostname:
        raise ValueError(f"{public_url!r} has no host to make a did:web of")
    host = parts.hostname + (f"%3A{parts.port}" if parts.port else "")
    path = [quote(segment, safe="") for segment in parts.path.split("/") if segment]
    return ":".join(["did:web", host, *path])


def did_document(did: str, keys: KeySet) -> dict[str, Any]:
    if keys.did != did:
        raise ValueError(f"the keys are those of {keys.did}, not {did}")
    methods = [
        {
            "id": keys.kid(key),
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": keys.public_jwk(key),
        }
        for key in keys.keys
    ]
    ids = [m["id"] for m in methods]
    return {
        "@context": DID_CONTEXTS,
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
    }
