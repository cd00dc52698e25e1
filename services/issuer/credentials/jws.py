"""JWS Compact Serialization (RFC 7515) for RS256, ES256 and EdDSA, done by joserfc.

joserfc signs and checks signatures; this module only sets the policy around it:

- only asymmetric algorithms exist here, and the algorithm is bound to the key: a token
  whose ``alg`` does not match the key that verifies it is refused (joserfc refuses it too),
  so neither ``none`` nor an HMAC-with-a-public-key confusion can get through;
- headers with ``crit`` are refused (we understand no extension), as is any ``typ`` but
  ``JWT``, a header member joserfc does not know, and anything that is not three non-empty
  unpadded base64url segments;
- every refusal is a ``JwsError`` whose message a verifier's report can show.

``EdDSA`` (Ed25519) is the name OB 3.0 verifiers and did:web documents use today; RFC 9864
deprecates it for the fully-specified ``Ed25519``, and joserfc warns about that on every
use, which is silenced here (and only that warning).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import msgspec
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

Alg = Literal["RS256", "ES256", "EdDSA"]
SUPPORTED_ALGS: tuple[Alg, ...] = ("RS256", "ES256", "EdDSA")
SigningKey = RSAKey | ECKey | OKPKey

TOKEN_MAX_CHARS = 1024 * 1024
HEADER_MAX_CHARS = 4096
RSA_MIN_BITS = 2048
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class JwsError(ValueError):
    """A token that cannot be trusted; the message says why, for a verifier's report."""


def _registry() -> jws.JWSRegistry:
    registry = jws.JWSRegistry(algorithms=list(SUPPORTED_ALGS), strict_check_header=True)
    # joserfc's defaults (128 kB payload, 512-byte header) are below what we accept.
    registry.max_payload_length = TOKEN_MAX_CHARS
    registry.max_header_length = HEADER_MAX_CHARS
    return registry


_REGISTRY = _registry()


@contextlib.contextmanager
def _quiet_eddsa() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        yield


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url only (RFC 7515 §2): padding or other alphabets are refused."""
    if not _SEGMENT.fullmatch(text) and text != "":
        raise JwsError("a segment is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwsError(f"a segment is not base64url: {exc}") from exc


def alg_of_key(key: SigningKey) -> Alg:
    """The one algorithm a key is used with."""
    if isinstance(key, RSAKey):
        bits = key.public_key.key_size
        if bits < RSA_MIN_BITS:
            raise JwsError(f"RSA keys need at least {RSA_MIN_BITS} bits, got {bits}")
        return "RS256"
    if isinstance(key, ECKey):
        if key.curve_name != "P-256":
            raise JwsError(f"ES256 needs a P-256 key, got {key.curve_name}")
        return "ES256"
    if isinstance(key, OKPKey) and key.curve_name == "Ed25519":
        return "EdDSA"
    raise JwsError(f"no accepted algorithm signs with a {type(key).__name__}")


def encode_compact(header: Mapping[str, Any], payload: bytes, key: SigningKey) -> str:
    """``BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)``, signed by joserfc."""
    alg = header.get("alg")
    if alg != alg_of_key(key):
        raise JwsError(f"header alg {alg!r} does not match the {alg_of_key(key)} signing key")
    if not key.is_private:
        raise JwsError("signing needs the private key")
    try:
        with _quiet_eddsa():
            return jws.serialize_compact(dict(header), payload, key, registry=_REGISTRY)
    except JoseError as exc:
        raise JwsError(f"joserfc refused to sign: {exc}") from exc


class Parsed(msgspec.Struct, frozen=True, kw_only=True):
    header: dict[str, Any]
    payload: bytes


def parse_compact(token: str) -> Parsed:
    """Split and decode a compact JWS without trusting anything in it yet."""
    if len(token) > TOKEN_MAX_CHARS:
        raise JwsError(f"the token is over {TOKEN_MAX_CHARS} characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise JwsError("a compact JWS has three non-empty base64url segments")
    if not all(_SEGMENT.fullmatch(part) for part in parts):
        raise JwsError("a segment is not unpadded base64url")
    if len(parts[0]) > HEADER_MAX_CHARS:
        raise JwsError(f"the JOSE header is over {HEADER_MAX_CHARS} characters")
    try:
        header = msgspec.json.decode(b64url_decode(parts[0]))
    except msgspec.DecodeError as exc:
        raise JwsError(f"the JOSE header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise JwsError("the JOSE header is not a JSON object")
    return Parsed(header=header, payload=b64url_decode(parts[1]))


def check_header(header: Mapping[str, Any]) -> Alg:
    """The header's algorithm, if it is one we accept at all."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwsError("the JOSE header has no alg")
    if alg.lower() == "none":
        raise JwsError("alg 'none' is never accepted: the token is unsigned")
    if "crit" in header:
        raise JwsError("the JOSE header names critical extensions this verifier does not know")
    typ = header.get("typ")
    if typ is not None and typ != "JWT":
        raise JwsError(f"typ {typ!r} is not 'JWT'")
    for accepted in SUPPORTED_ALGS:
        if alg == accepted:
            return accepted
    raise JwsError(f"alg {alg!r} is not accepted (RS256, ES256 or EdDSA)")


def signature_holds(token: str, key: SigningKey) -> bool:
    """Whether joserfc finds the token's signature good under ``key`` (header policy aside)."""
    try:
        with _quiet_eddsa():
            jws.deserialize_compact(token.strip(), key, registry=_REGISTRY)
    except JoseError:
        return False
    return True


def verify_compact(token: str, key_for: Callable[[Mapping[str, Any]], SigningKey]) -> Parsed:
    """The parsed token if its signature holds under the key ``key_for(header)`` names.

    ``key_for`` raises ``JwsError`` when it knows no such key.
    """
    parsed = parse_compact(token)
    alg = check_header(parsed.header)
    key = key_for(parsed.header)
    if alg_of_key(key) != alg:
        raise JwsError(f"header alg {alg} does not match the key, which is {alg_of_key(key)}")
    if not signature_holds(token, key):
        raise JwsError("the signature does not match the header and payload")
    return parsed
