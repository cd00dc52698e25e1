"""Signing keys: loaded from a JWKS file (private members included) or PEM files.

Every key in the file is published (its public half) so credentials signed with a retired
key keep verifying; one key signs. Rotation: add the new key to the file (append it to the
JWKS, or add a PEM file whose name sorts last) and restart; the newest key of the
configured algorithm signs unless ``CREDIT_LEDGER_ISSUER_SIGNING_KID`` names another.

Key ids are RFC 7638 thumbprints, so they are stable and need no registry; the ``kid`` in a
token is the HTTPS URL ``<public URL>/v1/keys/<thumbprint>``, which the issuer serves as
the public JWK (OB 3.0: a URI that dereferences to the JWK).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.issuer.credentials.jws import (
    Alg,
    JwsError,
    PrivateKey,
    PublicKey,
    alg_of_key,
    b64url_decode,
    b64url_encode,
)

DEV_KEY_FILE = "issuer-keys.jwks.json"
KEYS_MAX = 100
KEY_FILE_MAX_BYTES = 1024 * 1024
DEV_RSA_BITS = 2048
_P256_BYTES = 32


class KeyFileError(ValueError):
    """The key file is missing, malformed, or names no usable key."""


@dataclass(frozen=True, slots=True)
class IssuerKey:
    thumbprint: str
    alg: Alg
    private: PrivateKey

    @property
    def public(self) -> PublicKey:
        return self.private.public_key()

    def public_members(self) -> dict[str, str]:
        return public_jwk_members(self.public)


class KeySet:
    """The issuer's keys: all of them published, ``active`` signing."""

    def __init__(self, keys: Sequence[IssuerKey], active: IssuerKey, public_url: str) -> None:
        if active not in keys:
            raise KeyFileError("the active key must be one of the key set")
        self.keys = tuple(keys)
        self.active = active
        self._key_url = f"{public_url.rstrip('/')}/v1/keys/"
        self._by_thumbprint = {k.thumbprint: k for k in keys}

    def kid(self, key: IssuerKey) -> str:
        return self._key_url + key.thumbprint

    def public_jwk(self, key: IssuerKey) -> dict[str, str]:
        return {**key.public_members(), "kid": self.kid(key), "alg": key.alg, "use": "sig"}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk(k) for k in self.keys]}

    def by_thumbprint(self, thumbprint: str) -> IssuerKey | None:
        return self._by_thumbprint.get(thumbprint)

    def by_kid(self, kid: str) -> IssuerKey | None:
        """The key a token's ``kid`` names: our key URL, or a DID URL ending in '#<thumbprint>'."""
        if kid.startswith(self._key_url):
            return self._by_thumbprint.get(kid.removeprefix(self._key_url))
        _, sep, fragment = kid.rpartition("#")
        return self._by_thumbprint.get(fragment) if sep else None


# --- JWK <-> cryptography ----------------------------------------------------------------


def _uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big"))


def _int_of(jwk: Mapping[str, Any], name: str) -> int:
    raw = jwk.get(name)
    if not isinstance(raw, str):
        raise KeyFileError(f"the JWK has no {name!r} member")
    return int.from_bytes(b64url_decode(raw), "big")


def public_jwk_members(key: PublicKey) -> dict[str, str]:
    """The required public members (RFC 7517/7518/8037) and nothing else."""
    match key:
        case rsa.RSAPublicKey():
            numbers = key.public_numbers()
            return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        case ec.EllipticCurvePublicKey():
            point = key.public_numbers()
            return {
                "kty": "EC",
                "crv": "P-256",
                "x": _uint(point.x, _P256_BYTES),
                "y": _uint(point.y, _P256_BYTES),
            }
        case ed25519.Ed25519PublicKey():
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise KeyFileError(f"unsupported key type {type(key).__name__}")


def private_jwk(key: PrivateKey) -> dict[str, str]:
    """A JWK with the private members, for the key file (never published)."""
    public = public_jwk_members(key.public_key())
    match key:
        case rsa.RSAPrivateKey():
            n = key.private_numbers()
            return {
                **public,
                "d": _uint(n.d),
                "p": _uint(n.p),
                "q": _uint(n.q),
                "dp": _uint(n.dmp1),
                "dq": _uint(n.dmq1),
                "qi": _uint(n.iqmp),
            }
        case ec.EllipticCurvePrivateKey():
            return {**public, "d": _uint(key.private_numbers().private_value, _P256_BYTES)}
        case ed25519.Ed25519PrivateKey():
            raw = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            return {**public, "d": b64url_encode(raw)}
    raise KeyFileError(f"unsupported key type {type(key).__name__}")


def public_key_of_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int_of(jwk, "e"), _int_of(jwk, "n")).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(
            _int_of(jwk, "x"), _int_of(jwk, "y"), ec.SECP256R1()
        ).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk.get("x", ""))))
    raise KeyFileError(f"unsupported JWK (kty {kty!r}, crv {jwk.get('crv')!r})")


def private_key_of_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    if "d" not in jwk:
        raise KeyFileError("a signing key's JWK must carry its private member 'd'")
    public = public_key_of_jwk(jwk)
    match public:
        case rsa.RSAPublicKey():
            numbers = rsa.RSAPrivateNumbers(
                p=_int_of(jwk, "p"),
                q=_int_of(jwk, "q"),
                d=_int_of(jwk, "d"),
                dmp1=_int_of(jwk, "dp"),
                dmq1=_int_of(jwk, "dq"),
                iqmp=_int_of(jwk, "qi"),
                public_numbers=public.public_numbers(),
            )
            return numbers.private_key()
        case ec.EllipticCurvePublicKey():
            return ec.EllipticCurvePrivateNumbers(
                _int_of(jwk, "d"), public.public_numbers()
            ).private_key()
        case ed25519.Ed25519PublicKey():
            key = ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(str(jwk["d"])))
            if public_jwk_members(key.public_key()) != public_jwk_members(public):
                raise KeyFileError("an Ed25519 JWK's 'd' does not match its 'x'")
            return key
    raise KeyFileError("unsupported JWK")


def thumbprint(key: PublicKey) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    members = public_jwk_members(key)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def issuer_key(private: PrivateKey) -> IssuerKey:
    try:
        alg = alg_of_key(private)
    except JwsError as exc:
        raise KeyFileError(str(exc)) from exc
    return IssuerKey(thumbprint=thumbprint(private.public_key()), alg=alg, private=private)


# --- files ------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    if path.stat().st_size > KEY_FILE_MAX_BYTES:
        raise KeyFileError(f"{path} is over {KEY_FILE_MAX_BYTES} bytes")
    return path.read_bytes()


def _keys_of_jwks(raw: bytes, path: Path) -> list[IssuerKey]:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not JSON: {exc}") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyFileError(f"{path} is not a JWKS (an object with a 'keys' array)")
    return [issuer_key(private_key_of_jwk(entry)) for entry in entries]


def _keys_of_pem(raw: bytes, path: Path) -> list[IssuerKey]:
    marker = b"-----BEGIN "
    blocks = [marker + block for block in raw.split(marker)[1:]]
    if not blocks:
        raise KeyFileError(f"{path} holds no PEM block")
    keys = []
    for block in blocks:
        loaded = serialization.load_pem_private_key(block, password=None)
        if not isinstance(
            loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise KeyFileError(f"{path} holds a {type(loaded).__name__}, not RSA, P-256 or Ed25519")
        keys.append(issuer_key(loaded))
    return keys


def load_keys(path: Path) -> list[IssuerKey]:
    """Keys in file order: a JWKS (.json), a PEM file, or a directory of *.pem by name."""
    if path.is_dir():
        files = sorted(path.glob("*.pem"))
        if not files:
            raise KeyFileError(f"{path} holds no *.pem file")
        keys = [k for file in files for k in _keys_of_pem(_read(file), file)]
    elif not path.exists():
        raise KeyFileError(f"the key file {path} does not exist")
    elif path.suffix == ".json":
        keys = _keys_of_jwks(_read(path), path)
    else:
        keys = _keys_of_pem(_read(path), path)
    if not keys or len(keys) > KEYS_MAX:
        raise KeyFileError(f"{path} must hold between 1 and {KEYS_MAX} keys, holds {len(keys)}")
    if len({k.thumbprint for k in keys}) != len(keys):
        raise KeyFileError(f"{path} holds the same key twice")
    return keys


def key_set(path: Path, alg: Alg, signing_kid: str | None, public_url: str) -> KeySet:
    keys = load_keys(path)
    if signing_kid is not None:
        thumb = signing_kid.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        chosen = [k for k in keys if k.thumbprint == thumb]
        if not chosen:
            raise KeyFileError(f"{path} holds no key {signing_kid}")
        if chosen[0].alg != alg:
            raise KeyFileError(f"key {signing_kid} is {chosen[0].alg}, the issuer signs {alg}")
        return KeySet(keys, chosen[0], public_url)
    usable = [k for k in keys if k.alg == alg]
    if not usable:
        raise KeyFileError(f"{path} holds no {alg} key")
    return KeySet(keys, usable[-1], public_url)


def write_jwks(path: Path, keys: Sequence[PrivateKey]) -> None:
    """Write private keys as a JWKS readable by the owner only."""
    document = {"keys": [private_jwk(k) for k in keys]}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def generate_key(alg: Alg) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=DEV_RSA_BITS)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def ensure_dev_keys(data_dir: Path) -> Path:
    """The development stack's key file: kept in ``data_dir``, made once (RS256, ES256,
    EdDSA), so credentials signed in one run still verify in the next."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        write_jwks(path, [generate_key(alg) for alg in ("RS256", "ES256", "EdDSA")])
    return path
