"""Signed tree heads: the documented bytes, Ed25519 signatures, tampering, and JWKs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import struct

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ledger.audit.merkle import EMPTY_ROOT, leaf_hash, root_from_leaves
from services.ledger.audit.tree_head import (
    SIGNING_CONTEXT,
    TreeHead,
    public_key_from_jwk,
    public_key_jwk,
    sign_tree_head,
    tree_head_signing_bytes,
    verify_tree_head,
)

# RFC 8032 §7.1 TEST 1 secret key; a fixed key makes the signature reproducible.
SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # its public key, base64url
ROOT = root_from_leaves([leaf_hash(hashlib.sha256(bytes([n])).digest()) for n in range(5)])
WHEN = dt.datetime(2026, 11, 29, 10, 0, 0, 123_456, tzinfo=dt.UTC)
WHEN_MS = 1_795_946_400_123


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SECRET)


@pytest.fixture
def head(key: Ed25519PrivateKey) -> TreeHead:
    return sign_tree_head(key, "log-2026", 5, ROOT, WHEN)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_signed_bytes_are_the_documented_layout() -> None:
    message = tree_head_signing_bytes(5, ROOT, WHEN_MS)
    assert SIGNING_CONTEXT == b"credit-ledger-tree-head-v1\n"
    assert message == SIGNING_CONTEXT + (5).to_bytes(8, "big") + ROOT + struct.pack(">Q", WHEN_MS)
    assert len(message) == 27 + 8 + 32 + 8


def test_head_fields(key: Ed25519PrivateKey, head: TreeHead) -> None:
    assert head.tree_size == 5
    assert head.root_hash == ROOT.hex()
    assert head.timestamp == "2026-11-29T10:00:00.123Z"  # truncated to the signed ms
    assert head.key_id == "log-2026"
    assert "=" not in head.signature
    # An auditor re-derives the signed bytes from the JSON fields alone.
    message = tree_head_signing_bytes(5, ROOT, WHEN_MS)
    key.public_key().verify(_unb64(head.signature), message)


def test_timestamps_in_other_zones_are_normalised_to_utc(key: Ed25519PrivateKey) -> None:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    head = sign_tree_head(key, "k", 5, ROOT, WHEN.astimezone(ist))
    assert head.timestamp == "2026-11-29T10:00:00.123Z"
    assert verify_tree_head(head, key.public_key())


def test_valid_head_verifies_and_round_trips_json(key: Ed25519PrivateKey, head: TreeHead) -> None:
    assert verify_tree_head(head, key.public_key())
    decoded = msgspec.json.decode(msgspec.json.encode(head), type=TreeHead)
    assert decoded == head
    assert verify_tree_head(decoded, key.public_key())


def test_empty_tree_head(key: Ed25519PrivateKey) -> None:
    head = sign_tree_head(key, "k", 0, EMPTY_ROOT, WHEN)
    assert verify_tree_head(head, key.public_key())


def test_head_signed_by_another_key_is_rejected(head: TreeHead) -> None:
    other = Ed25519PrivateKey.generate()
    assert not verify_tree_head(head, other.public_key())


@pytest.mark.parametrize(
    "changes",
    [
        {"tree_size": 6},
        {"tree_size": 4},
        {"root_hash": EMPTY_ROOT.hex()},
        {"root_hash": ROOT.hex()[:-1] + ("0" if ROOT.hex()[-1] != "0" else "1")},
        {"root_hash": ROOT.hex().upper()},
        {"root_hash": ROOT.hex()[:-2]},
        {"root_hash": "zz" * 32},
        {"timestamp": "2026-11-29T10:00:00.124Z"},
        {"timestamp": "2026-11-29T10:00:00.123+00:00"},
        {"timestamp": "2026-11-29T10:00:00.123000Z"},
        {"timestamp": "2026-13-29T10:00:00.123Z"},
        {"timestamp": "1969-12-31T23:59:59.999Z"},
        {"tree_size": -1},
        {"tree_size": 2**64},
    ],
)
def test_tampered_heads_are_rejected(
    key: Ed25519PrivateKey, head: TreeHead, changes: dict[str, object]
) -> None:
    assert not verify_tree_head(msgspec.structs.replace(head, **changes), key.public_key())


def test_tampered_signatures_are_rejected(key: Ed25519PrivateKey, head: TreeHead) -> None:
    raw = _unb64(head.signature)
    flipped = base64.urlsafe_b64encode(bytes([raw[0] ^ 1]) + raw[1:]).rstrip(b"=").decode()
    padded = head.signature + "=="
    for signature in [flipped, padded, head.signature[:-4], "", "!" * 86, head.signature + "A"]:
        tampered = msgspec.structs.replace(head, signature=signature)
        assert not verify_tree_head(tampered, key.public_key()), signature


def test_key_id_selects_a_key_but_is_not_signed(key: Ed25519PrivateKey, head: TreeHead) -> None:
    assert verify_tree_head(msgspec.structs.replace(head, key_id="other"), key.public_key())


def test_signing_rejects_values_the_format_cannot_carry(key: Ed25519PrivateKey) -> None:
    for size, root, when, reason in [
        (-1, ROOT, WHEN, "unsigned 64-bit"),
        (2**64, ROOT, WHEN, "unsigned 64-bit"),
        (5, ROOT[:31], WHEN, "32 bytes"),
        (5, ROOT, WHEN.replace(tzinfo=None), "timezone-aware"),
        (5, ROOT, dt.datetime(1969, 1, 1, tzinfo=dt.UTC), "unsigned 64-bit"),
    ]:
        with pytest.raises(ValueError, match=reason):
            sign_tree_head(key, "k", size, root, when)


def test_json_decoding_enforces_the_field_formats(head: TreeHead) -> None:
    document = msgspec.to_builtins(head)
    for field, value in [
        ("tree_size", -1),
        ("tree_size", 2**63),
        ("root_hash", "AB" * 32),
        ("timestamp", "2026-11-29T10:00:00Z"),
        ("signature", head.signature + "="),
    ]:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**document, field: value}, TreeHead)


def test_public_key_jwk_round_trip(key: Ed25519PrivateKey, head: TreeHead) -> None:
    jwk = public_key_jwk(key.public_key(), "log-2026")
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": PUBLIC_X,
        "kid": "log-2026",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert verify_tree_head(head, public_key_from_jwk(jwk))
    assert verify_tree_head(
        head, public_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X})
    )


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        ({"kty": "EC", "crv": "Ed25519", "x": PUBLIC_X}, "not an OKP/Ed25519"),
        ({"kty": "OKP", "crv": "X25519", "x": PUBLIC_X}, "not an OKP/Ed25519"),
        ({"kty": "OKP", "crv": "Ed25519"}, "no public key"),
        ({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X[:-3]}, "32 bytes"),
        ({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X + "="}, "base64url"),
        ({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X, "alg": "ES256"}, "EdDSA"),
        ({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X, "use": "enc"}, "EdDSA"),
        ({"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X, "d": "secret"}, "private key"),
    ],
)
def test_public_key_from_jwk_rejects_other_keys(jwk: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        public_key_from_jwk(jwk)
