"""How a learner appears in a credential: an opaque subject id and a salted identity hash.

The raw learner id never appears in a credential (nor in a NATS subject):

- ``subject_id`` is a UUID derived from an HMAC of the learner id under the issuer's
  secret: stable for the learner (a wallet can group their credentials) and opaque to
  anyone without the secret.
- ``identityHash`` follows OB 3.0's IdentityHash: ``sha256$`` + hex SHA-256 of the learner
  id followed by the salt. The salt differs per credential (an HMAC of the award id), so two
  credentials of one learner carry unrelated hashes; someone who already knows the learner
  id can still check it against a credential, which is the point of the field.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

SUBJECT_NAMESPACE = uuid.UUID("9a4f0b6e-1c3d-4e2a-8b7f-5d6c4e3a2b10")
LEARNER_HASH_HEX = 32
SALT_HEX = 32


@dataclass(frozen=True, slots=True)
class LearnerIdentity:
    subject_id: str
    learner_hash: str
    salt: str
    identity_hash: str


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def learner_hash(secret: str, learner_id: str) -> str:
    """The keyed hash that stands for the learner in subjects and the issuer's tables."""
    return _mac(secret, f"learner/{learner_id}")[:LEARNER_HASH_HEX]


def identity_hash(learner_id: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((learner_id + salt).encode()).hexdigest()


def identity_for(secret: str, learner_id: str, award_id: str) -> LearnerIdentity:
    keyed = learner_hash(secret, learner_id)
    salt = _mac(secret, f"salt/{award_id}")[:SALT_HEX]
    return LearnerIdentity(
        subject_id=f"urn:uuid:{uuid.uuid5(SUBJECT_NAMESPACE, keyed)}",
        learner_hash=keyed,
        salt=salt,
        identity_hash=identity_hash(learner_id, salt),
    )


def identity_matches(learner_id: str, salt: str, hashed: str) -> bool:
    """Whether a credential's identityHash is that of ``learner_id`` (constant time)."""
    return hmac.compare_digest(identity_hash(learner_id, salt), hashed)
