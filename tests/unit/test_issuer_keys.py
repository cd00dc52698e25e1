"""Signing keys: JWKS and PEM files, RFC 7638 thumbprints, rotation, the dev key file, and
the two kid forms (the DID URL credentials are signed with, the older key URL)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from services.issuer.credentials.did import did_document, did_web
from services.issuer.credentials.jws import b64url_encode
from services.issuer.credentials.keys import (
    KeyFileError,
    ensure_dev_keys,
    generate_key,
    key_set,
    load_keys,
    private_jwk,
    public_key_of_jwk,
    thumbprint,
    write_jwks,
)

PUBLIC_URL = "https://issuer.example.in"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_the_rfc_7638_example_thumbprint() -> None:
    # RFC 7638 §3.1: this RSA key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
            "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5"
            "v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbIS"
            "D08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
            "gU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(public_key_of_jwk(jwk)) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_key_file_round_trips_and_keeps_its_thumbprints(tmp_path: Path) -> None:
    written = [generate_key("RS256"), generate_key("ES256"), generate_key("EdDSA")]
    write_jwks(tmp_path / "keys.json", written)
    loaded = load_keys(tmp_path / "keys.json")
    assert [k.thumbprint for k in loaded] == [thumbprint(k) for k in written]
    assert [k.alg for k in loaded] == ["RS256", "ES256", "EdDSA"]


def test_the_dev_key_file_is_made_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = ensure_dev_keys(tmp_path)
    first = path.read_bytes()
    assert ensure_dev_keys(tmp_path) == path
    assert path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(k.alg for k in load_keys(path)) == ["ES256", "EdDSA", "RS256"]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_the_published_jwks_has_no_private_member(tmp_path: Path, alg: str) -> None:
    keys = key_set(ensure_dev_keys(tmp_path), alg, None, PUBLIC_URL)  # type: ignore[arg-type]
    assert keys.active.alg == alg
    published = keys.jwks()["keys"]
    for jwk in published:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig"
    # Each key under both kid forms: the DID URL first, then the key URL of older tokens.
    kids = [jwk["kid"] for jwk in published]
    assert kids == [keys.kid(k) for k in keys.keys] + [keys.key_url(k) for k in keys.keys]
    assert all(kid.startswith("did:web:issuer.example.in#") for kid in kids[:3])
    assert all(kid.startswith(f"{PUBLIC_URL}/v1/keys/") for kid in kids[3:])
    document = did_document(did_web(PUBLIC_URL), keys)
    assert not any(f'"{m}"' in json.dumps(document) for m in PRIVATE_MEMBERS)
    assert [m["id"] for m in document["verificationMethod"]] == kids[:3]
    assert document["assertionMethod"] == kids[:3]


def test_both_kid_forms_name_the_key_and_nothing_else_does(tmp_path: Path) -> None:
    keys = key_set(ensure_dev_keys(tmp_path), "ES256", None, PUBLIC_URL)
    key = keys.active
    assert keys.kid(key) == f"did:web:issuer.example.in#{key.thumbprint}"
    assert keys.by_kid(keys.kid(key)) is key
    assert keys.by_kid(f"{PUBLIC_URL}/v1/keys/{key.thumbprint}") is key
    for foreign in (
        f"did:web:elsewhere.example#{key.thumbprint}",
        f"https://elsewhere.example/v1/keys/{key.thumbprint}",
        key.thumbprint,
        f"did:web:issuer.example.in#{'A' * 43}",
    ):
        assert keys.by_kid(foreign) is None, foreign


def test_rotation_signs_with_the_newest_key_and_still_publishes_the_old(tmp_path: Path) -> None:
    old, new = generate_key("RS256"), generate_key("RS256")
    path = tmp_path / "keys.json"
    write_jwks(path, [old])
    before = key_set(path, "RS256", None, PUBLIC_URL)
    write_jwks(path, [old, new])
    after = key_set(path, "RS256", None, PUBLIC_URL)
    assert after.active.thumbprint == thumbprint(new)
    assert after.by_kid(before.kid(before.active)) is not None
    assert after.by_kid(before.key_url(before.active)) is not None
    pinned = key_set(path, "RS256", before.kid(before.active), PUBLIC_URL)
    assert pinned.active.thumbprint == before.active.thumbprint


def test_pem_files_in_a_directory_load_in_name_order(tmp_path: Path) -> None:
    keys = [generate_key("EdDSA"), generate_key("ES256")]
    for number, key in enumerate(keys):
        (tmp_path / f"{number:02d}.pem").write_bytes(key.as_pem(private=True))
    loaded = load_keys(tmp_path)
    assert [k.thumbprint for k in loaded] == [thumbprint(k) for k in keys]


def test_weak_or_missing_keys_are_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    (tmp_path / "weak.pem").write_bytes(
        weak.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="2048"):
        load_keys(tmp_path / "weak.pem")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_keys(tmp_path / "absent.json")
    public_only = tmp_path / "public.json"
    public_only.write_text(
        json.dumps(key_set(ensure_dev_keys(tmp_path), "RS256", None, PUBLIC_URL).jwks())
    )
    with pytest.raises(KeyFileError, match="private member"):
        load_keys(public_only)
    # An Ed25519 JWK whose 'x' is another key's would publish a key that verifies nothing.
    mismatched = private_jwk(generate_key("EdDSA"))
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    mismatched["x"] = b64url_encode(
        other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    (tmp_path / "mismatched.json").write_text(json.dumps({"keys": [mismatched]}))
    with pytest.raises(KeyFileError, match="do not match"):
        load_keys(tmp_path / "mismatched.json")
    (tmp_path / "oct.json").write_text(
        json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "d": "x"}]})
    )
    with pytest.raises(KeyFileError, match="unsupported key type"):
        load_keys(tmp_path / "oct.json")
    write_jwks(tmp_path / "rsa.json", [generate_key("RS256")])
    with pytest.raises(KeyFileError, match="no ES256 key"):
        key_set(tmp_path / "rsa.json", "ES256", None, PUBLIC_URL)


def test_did_web_encodes_the_port_and_the_path() -> None:
    assert did_web("https://issuer.example.in") == "did:web:issuer.example.in"
    assert did_web("http://127.0.0.1:8002") == "did:web:127.0.0.1%3A8002"
    assert did_web("https://example.in/skills/issuer") == "did:web:example.in:skills:issuer"
