"""Signing keys: JWKS and PEM files, RFC 7638 thumbprints, rotation, the dev key file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.issuer.credentials.did import did_document, did_web
from services.issuer.credentials.keys import (
    KeyFileError,
    ensure_dev_keys,
    generate_key,
    key_set,
    load_keys,
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
    for jwk in keys.jwks()["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["kid"].startswith(f"{PUBLIC_URL}/v1/keys/")
        assert jwk["use"] == "sig"
    document = json.dumps(did_document(did_web(PUBLIC_URL), keys))
    assert not any(f'"{m}"' in document for m in PRIVATE_MEMBERS)


def test_rotation_signs_with_the_newest_key_and_still_publishes_the_old(tmp_path: Path) -> None:
    old, new = generate_key("RS256"), generate_key("RS256")
    path = tmp_path / "keys.json"
    write_jwks(path, [old])
    before = key_set(path, "RS256", None, PUBLIC_URL)
    write_jwks(path, [old, new])
    after = key_set(path, "RS256", None, PUBLIC_URL)
    assert after.active.thumbprint == thumbprint(new.public_key())
    assert after.by_kid(before.kid(before.active)) is not None
    pinned = key_set(path, "RS256", before.kid(before.active), PUBLIC_URL)
    assert pinned.active.thumbprint == before.active.thumbprint


def test_pem_files_in_a_directory_load_in_name_order(tmp_path: Path) -> None:
    keys = [generate_key("EdDSA"), generate_key("ES256")]
    for number, key in enumerate(keys):
        (tmp_path / f"{number:02d}.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    loaded = load_keys(tmp_path)
    assert [k.thumbprint for k in loaded] == [thumbprint(k.public_key()) for k in keys]


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
    public_only.write_text(json.dumps(key_set(ensure_dev_keys(tmp_path), "RS256", None, "").jwks()))
    with pytest.raises(KeyFileError, match="private member"):
        load_keys(public_only)
    write_jwks(tmp_path / "rsa.json", [generate_key("RS256")])
    with pytest.raises(KeyFileError, match="no ES256 key"):
        key_set(tmp_path / "rsa.json", "ES256", None, PUBLIC_URL)


def test_did_web_encodes_the_port_and_the_path() -> None:
    assert did_web("https://issuer.example.in") == "did:web:issuer.example.in"
    assert did_web("http://127.0.0.1:8002") == "did:web:127.0.0.1%3A8002"
    assert did_web("https://example.in/skills/issuer") == "did:web:example.in:skills:issuer"
