"""Signing keys: loaded from a JWKS file (private members included) or PEM files.

Every key in the file is published (its public half) so credentials signed with a retired
key keep verifying; one key signs. Rotation: add the new key to the file (append it to the
JWKS, or add a PEM file whose name sorts last) and restart; the newest key of the
configured algorithm signs unless ``CREDIT_LEDGER_ISSUER_SIGNING_KID`` names another.

The JWK encoding, the RFC 7638 thumbprints and the key generation are joserfc's. Key ids
are thumbprints, so they are stable and need no registry. A key has two ``kid`` forms:

- the DID URL ``<issuer did:web>#<thumbprint>``, the verification method that
  ``/.well-known/did.json`` lists: credentials are signed with it, so a verifier that
  starts from the issuer's DID (the usual path for did:web) finds the key;
- the HTTPS URL ``<public URL>/v1/keys/<thumbprint>``, which the issuer serves as the
  public JWK: credentials signed before the DID URL form carry it, and it stays resolvable
  (the JWKS lists every key under both forms, and /v1/verify accepts both).
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from services.common.settings import SALT_MIN_CHARS, SettingsError
from services.issuer.credentials.did import did_web
from services.issuer.credentials.jws import Alg, JwsError, SigningKey, alg_of_key

DEV_KEY_FILE = "issuer-keys.jwks.json"
DEV_SALT_FILE = "issuer-learner-salt"
KEYS_MAX = 100
KEY_FILE_MAX_BYTES = 1024 * 1024
DEV_RSA_BITS = 2048
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class KeyFileError(ValueError):
    """The key file is missing, malformed, or names no usable key."""


@dataclass(frozen=True, slots=True)
class IssuerKey:
    thumbprint: str
    alg: Alg
    jwk: SigningKey  # with its private half
    public: SigningKey  # the public half only: what verification uses

    def public_members(self) -> dict[str, str]:
        return public_jwk_members(self.jwk)


class KeySet:
    """The issuer's keys: all of them published, ``active`` signing."""

    def __init__(self, keys: Sequence[IssuerKey], active: IssuerKey, public_url: str) -> None:
        if active not in keys:
            raise KeyFileError("the active key must be one of the key set")
        self.keys = tuple(keys)
        self.active = active
        self.did = did_web(public_url)
        self._key_url = f"{public_url.rstrip('/')}/v1/keys/"
        self._by_thumbprint = {k.thumbprint: k for k in keys}

    def kid(self, key: IssuerKey) -> str:
        """The DID URL of the key: what credentials are signed with."""
        return f"{self.did}#{key.thumbprint}"

    def key_url(self, key: IssuerKey) -> str:
        """The HTTPS URL of the key: the kid of credentials signed before the DID URL form."""
        return self._key_url + key.thumbprint

    def public_jwk(self, key: IssuerKey, *, legacy: bool = False) -> dict[str, str]:
        kid = self.key_url(key) if legacy else self.kid(key)
        return {**key.public_members(), "kid": kid, "alg": key.alg, "use": "sig"}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every key under its DID URL kid, then again under its HTTPS URL kid."""
        return {
            "keys": [
                *(self.public_jwk(k) for k in self.keys),
                *(self.public_jwk(k, legacy=True) for k in self.keys),
            ]
        }

    def by_thumbprint(self, thumbprint: str) -> IssuerKey | None:
        return self._by_thumbprint.get(thumbprint)

    def by_kid(self, kid: str) -> IssuerKey | None:
        """The key a token's ``kid`` names: our DID URL or our key URL, nothing else."""
        for prefix in (f"{self.did}#", self._key_url):
            if kid.startswith(prefix):
                return self._by_thumbprint.get(kid.removeprefix(prefix))
        return None


# --- JWK (joserfc) ----------------------------------------------------------------------


def _required_members(key: SigningKey) -> list[str]:
    return ["kty", *(name for name, p in key.value_registry.items() if p.required)]


def public_jwk_members(key: SigningKey) -> dict[str, str]:
    """The required public members (RFC 7517/7518/8037) and nothing else."""
    data = key.as_dict(private=False)
    return {name: str(data[name]) for name in _required_members(key)}


def _spki(key: SigningKey) -> bytes:
    return key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _checked(key: Any) -> SigningKey:
    if not isinstance(key, RSAKey | ECKey | OKPKey):
        raise KeyFileError(f"unsupported key type {type(key).__name__}: RSA, P-256 or Ed25519")
    try:
        alg_of_key(key)
    except JwsError as exc:
        raise KeyFileError(str(exc)) from exc
    return key


def public_key_of_jwk(jwk: Mapping[str, Any]) -> SigningKey:
    """A public JWK (private members ignored) as a joserfc key."""
    public = {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            key = JWKRegistry.import_key(public)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"unsupported JWK (kty {jwk.get('kty')!r}): {exc}") from exc
    return _checked(key)


def _wrap(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> SigningKey:
    """joserfc's key of a ``cryptography`` private key, members computed from it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        if isinstance(private, rsa.RSAPrivateKey):
            return _checked(RSAKey.import_key(private))
        if isinstance(private, ec.EllipticCurvePrivateKey):
            return _checked(ECKey.import_key(private))
        return _checked(OKPKey.import_key(private))


def private_key_of_jwk(jwk: Mapping[str, Any]) -> SigningKey:
    """A signing key from its JWK; its public members must be those of its private ones."""
    if "d" not in jwk:
        raise KeyFileError("a signing key's JWK must carry its private member 'd'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            given = JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"unsupported JWK (kty {jwk.get('kty')!r}): {exc}") from exc
    given = _checked(given)
    private = given.private_key
    if private is None or not isinstance(
        private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise KeyFileError("the JWK holds no usable private key")
    # Re-derive every member from the private key: a JWK whose 'x' (or 'n') is not that of
    # its 'd' would otherwise publish a key that verifies nothing we sign.
    key = _wrap(private)
    if _spki(public_key_of_jwk(jwk)) != _spki(key):
        raise KeyFileError(f"a {jwk.get('kty')} JWK's public members do not match its 'd'")
    return key


def private_jwk(key: SigningKey) -> dict[str, Any]:
    """A JWK with the private members, for the key file (never published)."""
    return dict(key.as_dict(private=True))


def thumbprint(key: SigningKey) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace (joserfc)."""
    return key.thumbprint()


def issuer_key(key: SigningKey) -> IssuerKey:
    try:
        alg = alg_of_key(key)
    except JwsError as exc:
        raise KeyFileError(str(exc)) from exc
    if not key.is_private:
        raise KeyFileError("a signing key needs its private half")
    public = public_key_of_jwk(public_jwk_members(key))
    return IssuerKey(thumbprint=thumbprint(key), alg=alg, jwk=key, public=public)


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
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise KeyFileError(f"{path} is not a JWKS (an object with a 'keys' array of JWKs)")
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
        keys.append(issuer_key(_wrap(loaded)))
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


def write_jwks(path: Path, keys: Sequence[SigningKey]) -> None:
    """Write private keys as a JWKS readable by the owner only."""
    document = {"keys": [private_jwk(k) for k in keys]}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def generate_key(alg: Alg) -> SigningKey:
    """A new private key for ``alg`` (joserfc generates it)."""
    if alg == "RS256":
        return RSAKey.generate_key(DEV_RSA_BITS)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    return OKPKey.generate_key("Ed25519")


def ensure_dev_keys(data_dir: Path) -> Path:
    """The development stack's key file: kept in ``data_dir``, made once (RS256, ES256,
    EdDSA), so credentials signed in one run still verify in the next."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        write_jwks(path, [generate_key(alg) for alg in ("RS256", "ES256", "EdDSA")])
    return path


def ensure_dev_salt(data_dir: Path) -> str:
    """The development stack's learner-hash secret: made once, kept in ``data_dir`` (a new
    one would give every learner a new subject id)."""
    path = data_dir / DEV_SALT_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    salt = path.read_text().strip()
    if len(salt) < SALT_MIN_CHARS:
        raise SettingsError(
            f"{path} must hold a learner-hash salt of at least {SALT_MIN_CHARS} characters"
        )
    return salt
