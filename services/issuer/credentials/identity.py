"""How a learner appears in a credential: an opaque subject id and a keyed identity hash.

The raw learner id never appears in a credential (nor in a NATS subject), and nothing in a
credential can be recomputed from the learner id and public data: every value below goes
through an HMAC under the issuer's server-side secret
(``CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT``), which no verifier has.

- ``subject_id`` is a UUID derived from the keyed learner hash: stable for the learner (a
  wallet, or a verifier shown two of their credentials, can group them) and opaque to
  anyone without the secret.
- ``identityHash`` follows OB 3.0's IdentityHash, ``sha256$`` + hex SHA-256 of an identifier
  followed by the salt, but the identifier is the learner's *pseudonym*, an HMAC of the
  learner id under the secret (256 bits), not the id itself; ``identityType`` says so
  (``ext:LearnerPseudonym``). The salt differs per credential (an HMAC of the award id), so
  two credentials carry unrelated hashes. Guessing learner ids gets nowhere: without the
  secret no guess gives the pseudonym. Holder binding goes through the learner: the issuer
  (for the learner's own share link) can hand out the pseudonym, and whoever holds it can
  check it against ``identityHash``.

Credentials issued before the pseudonym carry ``identityType: identifier`` and
``sha256(learner id + salt)``; they stay as they were (signed, and their status bits keep
working). ``identity_matches`` recognises both.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

SUBJECT_NAMESPACE = uuid.UUID("9a4f0b6e-1c3d-4e2a-8b7f-5d6c4e3a2b10")
LEARNER_HASH_HEX = 32
SALT_HEX = 32
PSEUDONYM_IDENTITY_TYPE = "ext:LearnerPseudonym"
LEGACY_IDENTITY_TYPE = "identifier"  # credentials issued before the pseudonym


@dataclass(frozen=True, slots=True)
class LearnerIdentity:
    subject_id: str
    learner_hash: str
    salt: str
    identity_hash: str
    identity_type: str = PSEUDONYM_IDENTITY_TYPE


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def learner_hash(secret: str, learner_id: str) -> str:
    """The keyed hash that stands for the learner in subjects and the issuer's tables."""
    return _mac(secret, f"learner/{learner_id}")[:LEARNER_HASH_HEX]


def learner_pseudonym(secret: str, learner_id: str) -> str:
    """What a credential's ``identityHash`` hashes: only the issuer (hence the learner, via
    their share link) can produce it."""
    return _mac(secret, f"pseudonym/{learner_id}")


def identity_hash(identifier: str, salt: str) -> str:
    """OB 3.0 IdentityHash: ``sha256$`` + hex SHA-256 of the identifier then the salt."""
    return "sha256$" + hashlib.sha256((identifier + salt).encode()).hexdigest()


def identity_for(secret: str, learner_id: str, award_id: str) -> LearnerIdentity:
    keyed = learner_hash(secret, learner_id)
    salt = _mac(secret, f"salt/{award_id}")[:SALT_HEX]
    return LearnerIdentity(
        subject_id=f"urn:uuid:{uuid.uuid5(SUBJECT_NAMESPACE, keyed)}",
        learner_hash=keyed,
        salt=salt,
        identity_hash=identity_hash(learner_pseudonym(secret, learner_id), salt),
    )


def pseudonym_matches(pseudonym: str, salt: str, hashed: str) -> bool:
    """What a verifier given the learner's pseudonym can check (constant time)."""
    return hmac.compare_digest(identity_hash(pseudonym, salt), hashed)


def identity_matches(
    secret: str, learner_id: str, salt: str, hashed: str, identity_type: str
) -> bool:
    """Whether a credential's identity is that of ``learner_id`` (the issuer's own check)."""
    if identity_type == LEGACY_IDENTITY_TYPE:
        return hmac.compare_digest(identity_hash(learner_id, salt), hashed)
    if identity_type == PSEUDONYM_IDENTITY_TYPE:
        return pseudonym_matches(learner_pseudonym(secret, learner_id), salt, hashed)
    return False
