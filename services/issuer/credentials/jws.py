"""JWS Compact Serialization (RFC 7515) for RS256, ES256 and EdDSA, over ``cryptography``.

Only asymmetric algorithms exist here, and the algorithm is bound to the key: a token
whose ``alg`` does not match the key that verifies it is refused, so neither ``none`` nor
an HMAC-with-a-public-key confusion can get through. Headers with ``crit`` are refused
(we understand no extension), as is anything that is not three base64url segments.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

Alg = Literal["RS256", "ES256", "EdDSA"]
SUPPORTED_ALGS: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

TOKEN_MAX_CHARS = 1024 * 1024
ES256_COORDINATE_BYTES = 32
RSA_MIN_BITS = 2048


class JwsError(ValueError):
    """A token that cannot be trusted; the message says why, for a verifier's report."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url only (RFC 7515 §2): padding or other alphabets are refused."""
    if "=" in text or "+" in text or "/" in text:
        raise JwsError("a segment is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwsError(f"a segment is not base64url: {exc}") from exc


def alg_of_key(key: PrivateKey | PublicKey) -> Alg:
    """The one algorithm a key is used with."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise JwsError(f"RSA keys need at least {RSA_MIN_BITS} bits, got {key.key_size}")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise JwsError(f"ES256 needs a P-256 key, got {key.curve.name}")
        return "ES256"
    return "EdDSA"


def sign(signing_input: bytes, key: PrivateKey) -> bytes:
    match key:
        case rsa.RSAPrivateKey():
            alg_of_key(key)
            return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        case ec.EllipticCurvePrivateKey():
            alg_of_key(key)
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            # JWS wants the fixed-size R || S, not the DER of X9.62 (RFC 7518 §3.4).
            return r.to_bytes(ES256_COORDINATE_BYTES, "big") + s.to_bytes(
                ES256_COORDINATE_BYTES, "big"
            )
        case ed25519.Ed25519PrivateKey():
            return key.sign(signing_input)
    raise TypeError(f"cannot sign with {type(key).__name__}")


def check_signature(signing_input: bytes, signature: bytes, key: PublicKey) -> bool:
    try:
        match key:
            case rsa.RSAPublicKey():
                key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            case ec.EllipticCurvePublicKey():
                if len(signature) != 2 * ES256_COORDINATE_BYTES:
                    return False
                r = int.from_bytes(signature[:ES256_COORDINATE_BYTES], "big")
                s = int.from_bytes(signature[ES256_COORDINATE_BYTES:], "big")
                key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
            case ed25519.Ed25519PublicKey():
                key.verify(signature, signing_input)
            case _:
                return False
    except InvalidSignature:
        return False
    return True


def encode_compact(header: Mapping[str, Any], payload: bytes, key: PrivateKey) -> str:
    """``BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)``."""
    alg = header.get("alg")
    if alg != alg_of_key(key):
        raise JwsError(f"header alg {alg!r} does not match the {alg_of_key(key)} signing key")
    signing_input = (
        b64url_encode(msgspec.json.encode(header)) + "." + b64url_encode(payload)
    ).encode("ascii")
    return signing_input.decode("ascii") + "." + b64url_encode(sign(signing_input, key))


class Parsed(msgspec.Struct, frozen=True, kw_only=True):
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def parse_compact(token: str) -> Parsed:
    """Split and decode a compact JWS without trusting anything in it yet."""
    if len(token) > TOKEN_MAX_CHARS:
        raise JwsError(f"the token is over {TOKEN_MAX_CHARS} characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise JwsError("a compact JWS has three non-empty base64url segments")
    try:
        header = msgspec.json.decode(b64url_decode(parts[0]))
    except msgspec.DecodeError as exc:
        raise JwsError(f"the JOSE header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise JwsError("the JOSE header is not a JSON object")
    return Parsed(
        header=header,
        payload=b64url_decode(parts[1]),
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=b64url_decode(parts[2]),
    )


def check_header(header: Mapping[str, Any]) -> Alg:
    """The header's algorithm, if it is one we accept at all."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwsError("the JOSE header has no alg")
    if alg.lower() == "none":
        raise JwsError("alg 'none' is never accepted: the token is unsigned")
    if alg not in SUPPORTED_ALGS:
        raise JwsError(f"alg {alg!r} is not accepted (RS256, ES256 or EdDSA)")
    if "crit" in header:
        raise JwsError("the JOSE header names critical extensions this verifier does not know")
    typ = header.get("typ")
    if typ is not None and typ != "JWT":
        raise JwsError(f"typ {typ!r} is not 'JWT'")
    if alg == "RS256":
        return "RS256"
    return "ES256" if alg == "ES256" else "EdDSA"


def verify_compact(token: str, key_for: Callable[[Mapping[str, Any]], PublicKey]) -> Parsed:
    """The parsed token if its signature holds under the key ``key_for(header)`` names.

    ``key_for`` raises ``JwsError`` when it knows no such key.
    """
    parsed = parse_compact(token)
    alg = check_header(parsed.header)
    key = key_for(parsed.header)
    if alg_of_key(key) != alg:
        raise JwsError(f"header alg {alg} does not match the key, which is {alg_of_key(key)}")
    if not check_signature(parsed.signing_input, parsed.signature, key):
        raise JwsError("the signature does not match the header and payload")
    return parsed
