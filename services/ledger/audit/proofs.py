"""Inclusion and consistency proofs from the stored tree, each from one query.

A proof needs O(log n) perfect-subtree nodes; ``merkle.*_nodes`` names exactly which, they
are fetched together, and the pure code computes the proof from them. A tree size beyond
what the builder has built has no nodes yet and is refused.
"""

from __future__ import annotations

from services.common.db import Conn
from services.ledger.audit.merkle import (
    NodeId,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    root_nodes,
    tree_root,
)
from services.ledger.audit.node_store import fetch_nodes
from services.ledger.audit.schemas import ConsistencyProof, InclusionProof


class ProofRefused(ValueError):
    """Sizes or positions that no proof exists for."""


async def inclusion(conn: Conn, position: int, tree_size: int) -> InclusionProof:
    """The audit path of event ``position`` (leaf ``position - 1``) in the tree of ``tree_size``."""
    if not 1 <= position <= tree_size:
        raise ProofRefused(f"position {position} is not in a tree of size {tree_size}")
    index = position - 1
    wanted = [NodeId(0, index), *inclusion_proof_nodes(index, tree_size), *root_nodes(tree_size)]
    nodes = await fetch_nodes(conn, wanted)
    return InclusionProof(
        position=position,
        leaf_index=index,
        tree_size=tree_size,
        leaf_hash=nodes.node(0, index).hex(),
        audit_path=[h.hex() for h in inclusion_proof(nodes, index, tree_size)],
        root_hash=tree_root(nodes, tree_size).hex(),
    )


async def consistency(conn: Conn, from_size: int, to_size: int) -> ConsistencyProof:
    """PROOF(from_size, D[to_size]): the old tree is a prefix of the new one."""
    if not 0 <= from_size <= to_size:
        raise ProofRefused(f"no consistency proof from size {from_size} to size {to_size}")
    wanted = [
        *consistency_proof_nodes(from_size, to_size),
        *root_nodes(from_size),
        *root_nodes(to_size),
    ]
    nodes = await fetch_nodes(conn, wanted)
    return ConsistencyProof(
        from_size=from_size,
        to_size=to_size,
        proof=[h.hex() for h in consistency_proof(nodes, from_size, to_size)],
        from_root=tree_root(nodes, from_size).hex(),
        to_root=tree_root(nodes, to_size).hex(),
    )
