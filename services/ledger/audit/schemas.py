"""What the audit endpoints return; the offline checks read the same shapes back."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from proto.envelope import RecordedEvent, Sha256Hex
from services.ledger.audit.tree_head import TreeHead

TreeSize = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class StoredTreeHead(TreeHead, frozen=True, kw_only=True):
    """A signed tree head as the ledger keeps it; ``head_id`` orders heads and is not signed."""

    head_id: int


class TreeHeadPage(msgspec.Struct, frozen=True, kw_only=True):
    tree_heads: list[StoredTreeHead]
    next_after_head_id: int


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 6962 audit path of event ``position`` (leaf ``position - 1``) in a tree.

    ``root_hash`` is what the ledger computed; an auditor trusts only the root of a signed
    head of the same ``tree_size``.
    """

    position: int
    leaf_index: int
    tree_size: TreeSize
    leaf_hash: Sha256Hex
    audit_path: list[Sha256Hex]
    root_hash: Sha256Hex


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 6962 proof that the tree of ``from_size`` is a prefix of the tree of ``to_size``.

    The roots are what the ledger computed; an auditor checks the proof against the roots
    of two signed heads.
    """

    from_size: TreeSize
    to_size: TreeSize
    proof: list[Sha256Hex]
    from_root: Sha256Hex
    to_root: Sha256Hex


class JsonWebKeySet(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 7517 JWK Set: every public key that ever signed a tree head."""

    keys: list[dict[str, Any]]


class InclusionBundle(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an offline check of one event needs (``credit-ledger audit
    check-inclusion --bundle``): the event as recorded, the chain hash before it, a signed
    tree head that covers it, and the event's audit path in that head's tree. Only the
    head's signature, checked with the ledger's public keys (``GET /v1/audit/keys``), is
    trusted; the rest is recomputed."""

    event: RecordedEvent
    previous_hash: Sha256Hex
    tree_head: StoredTreeHead
    proof: InclusionProof
