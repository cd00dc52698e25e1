"""What an auditor checks offline, from a signed head and the published keys alone.

Each check verifies the heads' signatures first (against a key of the JWKS whose id is its
RFC 7638 thumbprint), then the proof. Nothing the ledger computed is trusted: the leaf is
recomputed from the event's content and the previous event's chain hash, and roots come
only from signed heads. Each returns a ``Verdict`` with the reason, never raises on bad
input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from services.ledger.audit.export_rows import canonical_of_recorded
from services.ledger.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from services.ledger.audit.schemas import ConsistencyProof, InclusionProof, JsonWebKeySet
from services.ledger.audit.signing import key_id_of
from services.ledger.audit.tree_head import TreeHead, public_key_from_jwk, verify_tree_head


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def _fail(reason: str) -> Verdict:
    return Verdict(False, reason)


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def check_head(head: TreeHead, jwks: JsonWebKeySet, label: str = "head") -> Verdict:
    """The head is signed by a published key, and that key carries its own thumbprint."""
    candidates = [jwk for jwk in jwks.keys if jwk.get("kid") == head.key_id]
    if not candidates:
        return _fail(f"the JWKS has no key {head.key_id!r}, which signed the {label}")
    try:
        public_key = public_key_from_jwk(candidates[0])
    except ValueError as error:
        return _fail(f"key {head.key_id!r} of the JWKS is unusable: {error}")
    if key_id_of(public_key) != head.key_id:
        return _fail(f"key {head.key_id!r} is not the RFC 7638 thumbprint of the key it names")
    if not verify_tree_head(head, public_key):
        return _fail(f"the {label}'s signature does not verify with key {head.key_id!r}")
    return Verdict(True, f"the {label} (tree size {head.tree_size}) is signed by {head.key_id}")


def check_inclusion(
    head: TreeHead,
    proof: InclusionProof,
    event: dict[str, Any],
    previous_hash: bytes,
    jwks: JsonWebKeySet,
) -> Verdict:
    """Event ``event`` (a RecordedEvent as JSON builtins) is leaf ``position - 1`` of the head."""
    signed = check_head(head, jwks)
    if not signed.ok:
        return signed
    if len(previous_hash) != 32:
        return _fail("the previous hash is not 32 bytes")
    if proof.tree_size != head.tree_size:
        return _fail(f"the proof is for tree size {proof.tree_size}, the head for {head.tree_size}")
    try:
        position = event["position"]
        canonical = canonical_of_recorded(event)
    except (KeyError, TypeError, ValueError, msgspec.EncodeError) as error:
        return _fail(f"the event is not a recorded event: {error!r}")
    if not isinstance(position, int) or proof.position != position:
        return _fail(f"the proof is for position {proof.position}, the event is at {position}")
    if proof.leaf_index != position - 1:
        return _fail(f"leaf index {proof.leaf_index} is not position {position} - 1")
    leaf = leaf_hash(hashlib.sha256(previous_hash + canonical).digest())
    try:
        path = _hashes(proof.audit_path)
        root = bytes.fromhex(head.root_hash)
    except ValueError:
        return _fail("the proof holds a malformed hash")
    if verify_inclusion(leaf, position - 1, head.tree_size, path, root):
        return Verdict(True, f"event {position} is in the signed tree of size {head.tree_size}")
    if leaf.hex() != proof.leaf_hash:
        return _fail(
            f"event {position} as given (with the previous hash) is not the leaf the log "
            "committed to: its content or the previous hash differs from what was signed"
        )
    return _fail(f"the audit path does not lead from event {position} to the head's root")


def check_consistency(
    old: TreeHead, new: TreeHead, proof: ConsistencyProof, jwks: JsonWebKeySet
) -> Verdict:
    """The tree of the old head is a prefix of the tree of the new head."""
    for head, label in ((old, "old head"), (new, "new head")):
        signed = check_head(head, jwks, label)
        if not signed.ok:
            return signed
    if old.tree_size > new.tree_size:
        return _fail(f"the old head ({old.tree_size}) is larger than the new ({new.tree_size})")
    if (proof.from_size, proof.to_size) != (old.tree_size, new.tree_size):
        return _fail(
            f"the proof is from {proof.from_size} to {proof.to_size}, the heads are "
            f"{old.tree_size} and {new.tree_size}"
        )
    try:
        hashes = _hashes(proof.proof)
        old_root, new_root = bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash)
    except ValueError:
        return _fail("the proof holds a malformed hash")
    if verify_consistency(old.tree_size, new.tree_size, old_root, new_root, hashes):
        return Verdict(
            True, f"the tree of size {new.tree_size} extends the tree of size {old.tree_size}"
        )
    return _fail(
        f"the tree of size {new.tree_size} does not extend the signed tree of size "
        f"{old.tree_size}: the log was rewritten, or the proof is not genuine"
    )
