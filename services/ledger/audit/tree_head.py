"""Signed tree heads: the log's Ed25519 signature over (tree size, Merkle root, time).

The signed bytes, byte for byte (58 bytes, all integers unsigned big-endian):

    b"credit-ledger-tree-head-v1\\n"     27 bytes, ASCII, fixed
    tree_size                          8 bytes
    root hash                          32 bytes (RFC 6962 root of the first tree_size leaves)
    timestamp, ms since the Unix epoch  8 bytes

``key_id`` selects the verifying key and is not signed. In the JSON form the root is lower-case
hex, the timestamp RFC 3339 UTC with exactly three fraction digits (``2026-11-29T10:00:00.123Z``,
the same millisecond as the signed integer), and the signature unpadded base64url (RFC 4648 §5),
as in JWS. Public keys are published as OKP/Ed25519 JWKs (RFC 8037).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import struct
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proto.envelope import Sha256Hex

from .merkle import HASH_SIZE

SIGNING_CONTEXT = b"credit-ledger-tree-head-v1\n"
_MAX_U64 = 2**64 - 1
_MAX_BIGINT = 2**63 - 1  # positions are PostgreSQL bigints; msgspec bounds stop at int64
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS = dt.timedelta(milliseconds=1)
_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_BASE64URL_PATTERN = r"^[A-Za-z0-9_-]*$"
_SIGNATURE_SIZE = 64


class TreeHead(msgspec.Struct, frozen=True, kw_only=True):
    tree_size: Annotated[int, msgspec.Meta(ge=0, le=_MAX_BIGINT)]
    root_hash: Sha256Hex
    timestamp: Annotated[str, msgspec.Meta(pattern=_TIMESTAMP_PATTERN)]
    key_id: str
    signature: Annotated[str, msgspec.Meta(pattern=_BASE64URL_PATTERN)]


def tree_head_signing_bytes(tree_size: int, root: bytes, timestamp_ms: int) -> bytes:
    """The exact bytes an Ed25519 tree-head signature covers (see the module docstring)."""
    if not 0 <= tree_size <= _MAX_U64 or not 0 <= timestamp_ms <= _MAX_U64:
        raise ValueError("tree size and timestamp must fit an unsigned 64-bit integer")
    if len(root) != HASH_SIZE:
        raise ValueError(f"a root hash has {HASH_SIZE} bytes, not {len(root)}")
    return SIGNING_CONTEXT + struct.pack(">Q", tree_size) + root + struct.pack(">Q", timestamp_ms)


# --- encodings ---------------------------------------------------------------------------


def _to_milliseconds(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a tree head timestamp must be timezone-aware")
    return (moment - _EPOCH) // _ONE_MS  # exact integer arithmetic, truncating to the ms


def _format_milliseconds(ms: int) -> str:
    moment = _EPOCH + ms * _ONE_MS
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _parse_timestamp(text: str) -> int:
    """Milliseconds of an RFC 3339 timestamp in the one spelling this format signs."""
    if not re.fullmatch(_TIMESTAMP_PATTERN, text):
        raise ValueError(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    moment = dt.datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)
    return _to_milliseconds(moment)


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict: only the canonical unpadded spelling decodes (the stdlib ignores junk)."""
    if not re.fullmatch(_BASE64URL_PATTERN, text):
        raise ValueError("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not unpadded base64url") from error
    if _b64url_encode(raw) != text:
        raise ValueError("not the canonical base64url spelling")
    return raw


def _parse_root(text: str) -> bytes:
    root = bytes.fromhex(text)
    if len(root) != HASH_SIZE or root.hex() != text:
        raise ValueError("root_hash is not 64 lower-case hex digits")
    return root


def timestamp_ms_of(head: TreeHead) -> int:
    """The signed integer behind ``head.timestamp`` (ValueError if it is misspelt)."""
    return _parse_timestamp(head.timestamp)


def format_timestamp_ms(timestamp_ms: int) -> str:
    """The JSON spelling of a signed millisecond timestamp."""
    return _format_milliseconds(timestamp_ms)


# --- signing and verification ------------------------------------------------------------


def sign_tree_head(
    private_key: Ed25519PrivateKey,
    key_id: str,
    tree_size: int,
    root: bytes,
    timestamp: dt.datetime,
) -> TreeHead:
    """Sign (tree_size, root) at ``timestamp``, truncated to the millisecond."""
    timestamp_ms = _to_milliseconds(timestamp)
    message = tree_head_signing_bytes(tree_size, root, timestamp_ms)
    return TreeHead(
        tree_size=tree_size,
        root_hash=root.hex(),
        timestamp=_format_milliseconds(timestamp_ms),
        key_id=key_id,
        signature=_b64url_encode(private_key.sign(message)),
    )


def verify_tree_head(head: TreeHead, public_key: Ed25519PublicKey) -> bool:
    """Whether ``public_key`` signed exactly this head; malformed fields are a False."""
    try:
        message = tree_head_signing_bytes(
            head.tree_size, _parse_root(head.root_hash), _parse_timestamp(head.timestamp)
        )
        signature = _b64url_decode(head.signature)
    except ValueError:
        return False
    if len(signature) != _SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --- JWK (RFC 8037) ----------------------------------------------------------------------


def public_key_jwk(public_key: Ed25519PublicKey, key_id: str) -> dict[str, str]:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url_encode(raw),
        "kid": key_id,
        "alg": "EdDSA",
        "use": "sig",
    }


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """The Ed25519 key of an OKP JWK; ValueError for any other kind of key."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("not an OKP/Ed25519 JWK")
    if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
        raise ValueError("JWK is not for EdDSA signatures")
    if "d" in jwk:
        raise ValueError("JWK holds a private key; publish only the public part")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise ValueError("JWK has no public key 'x'")
    raw = _b64url_decode(x)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)
