"""The tree-signing key: an Ed25519 private key in a PEM (PKCS #8) file, and its key id.

The key id is the RFC 7638 JWK thumbprint of the public key, so anyone holding the public
JWK can recompute it, and two different keys can never share an id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from services.ledger.audit.tree_head import public_key_jwk

KEY_FILE_BYTES_MAX = 16 * 1024


class SigningKeyError(ValueError):
    """The configured key file is missing, unreadable or not an Ed25519 private key."""


@dataclass(frozen=True)
class TreeSigner:
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        return public_key_jwk(self.public_key, self.key_id)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members, sorted, no whitespace."""
    jwk = public_key_jwk(public_key, "")
    required = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    digest = hashlib.sha256(json.dumps(required, sort_keys=True, separators=(",", ":")).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def signer_from_key(private_key: Ed25519PrivateKey) -> TreeSigner:
    return TreeSigner(private_key, key_id_of(private_key.public_key()))


def load_signer(path: Path) -> TreeSigner:
    try:
        with path.open("rb") as key_file:
            pem = key_file.read(KEY_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise SigningKeyError(f"cannot read the tree-signing key {path}: {error}") from error
    if len(pem) > KEY_FILE_BYTES_MAX:
        raise SigningKeyError(f"{path} is too large to be a PEM key")
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return signer_from_key(key)


def create_key_file(path: Path) -> TreeSigner:
    """Write a new Ed25519 key to ``path`` (mode 0600); refuses to overwrite a file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never replace a key that signed heads; losing it means a new key id.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(pem)
    return signer_from_key(key)
