"""RFC 6962 Merkle tree over the ledger's chain hashes, and its proofs (pure: no I/O).

Leaf data of event ``n`` is its 32-byte chain hash (the ``hash`` column); positions start at
1, so event ``n`` is leaf index ``n - 1`` and a log whose head is position ``n`` is a tree of
size ``n``. Hashing is RFC 6962 §2.1 (domain-separated so a leaf can never pass for a node):

    leaf hash  = SHA-256(0x00 || leaf data)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")
    MTH(D[n])  = node hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

Proofs are computed from a node store (``NodeReader``) that holds only *perfect* subtrees:
the subtree at ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``
and never changes once complete, so a database can insert it once and never update it. The
ragged right edge of a tree is hashed on the fly from at most ``log2(n) + 1`` such nodes.

The verifiers are RFC 9162 §2.1.3.2 and §2.1.4.2, for auditors running offline; they never
raise on malformed input, they return False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, slots=True)
class NodeId:
    """A perfect subtree: ``level`` 0 is the leaf hashes; ``index`` counts from the left."""

    level: int
    index: int


@dataclass(frozen=True, slots=True)
class MerkleNode:
    """One row of ``merkle_nodes(level, index, hash)``."""

    level: int
    index: int
    hash: bytes


class NodeReader(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree over leaves [index * 2**level, (index + 1) * 2**level)."""
        ...


# --- reference implementation ------------------------------------------------------------


def _split(size: int) -> int:
    """RFC 6962's k: the largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH straight from the RFC definition; O(n log n), for tests and small trees."""
    size = len(leaf_hashes)
    if size == 0:
        return EMPTY_ROOT
    if size == 1:
        return leaf_hashes[0]
    k = _split(size)
    return node_hash(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


# --- roots from perfect subtrees ---------------------------------------------------------


def _perfect_parts(start: int, end: int) -> Iterator[NodeId]:
    """The perfect subtrees tiling an aligned range [start, end), largest (leftmost) first."""
    offset = start
    size = end - start
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            yield NodeId(level, offset >> level)
            offset += 1 << level


def _check_range(start: int, end: int) -> None:
    size = end - start
    if start < 0 or size < 0:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    # Only ranges the RFC recursion produces start on a multiple of the smallest power of
    # two >= their size; for those, and only those, MTH is the right fold of the tiling.
    if size > 0 and start % (1 << (size - 1).bit_length()):
        raise ValueError(f"leaf range [{start}, {end}) is not a subtree of any tree")


def subtree_root(reader: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from at most log2(size) + 1 stored perfect subtrees.

    Each RFC split takes the largest power of two as its left part, so MTH of a ragged
    range is node_hash(P1, node_hash(P2, ... Pk)) over its tiling P1 > P2 > ... > Pk.
    """
    _check_range(start, end)
    parts = [reader.node(part.level, part.index) for part in _perfect_parts(start, end)]
    if not parts:
        return EMPTY_ROOT
    root = parts[-1]
    for left in reversed(parts[:-1]):
        root = node_hash(left, root)
    return root


def tree_root(reader: NodeReader, tree_size: int) -> bytes:
    return subtree_root(reader, 0, tree_size)


# --- proofs (RFC 6962 §2.1.1, §2.1.2) ----------------------------------------------------


def inclusion_proof(reader: NodeReader, index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]): sibling hashes from the leaf up to the root."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is not in a tree of size {tree_size}")
    return _path(reader, index, 0, tree_size)


def _path(reader: NodeReader, m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) with m relative to lo.

    Only the first step to the left has a ragged sibling (D[k:n]); below it every subtree
    is perfect, so the whole path reads O(log n) nodes.
    """
    size = hi - lo
    if size == 1:
        return []
    k = _split(size)
    if m < k:
        return [*_path(reader, m, lo, lo + k), subtree_root(reader, lo + k, hi)]
    return [*_path(reader, m - k, lo + k, hi), subtree_root(reader, lo, lo + k)]


def consistency_proof(reader: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]); empty when old_size is 0 or equals new_size.

    RFC 6962 defines PROOF for 0 < m < n only: the empty tree is a prefix of every tree,
    and a tree is consistent with itself when the roots are equal, so neither needs nodes.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(reader, old_size, 0, new_size, at_old_root=True)


def _subproof(reader: NodeReader, m: int, lo: int, hi: int, *, at_old_root: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b), b = at_old_root: D[lo:lo+m] is the whole old tree, whose
    root the verifier already has, so it is not sent."""
    size = hi - lo
    if m == size:
        return [] if at_old_root else [subtree_root(reader, lo, hi)]
    k = _split(size)
    if m <= k:
        left = _subproof(reader, m, lo, lo + k, at_old_root=at_old_root)
        return [*left, subtree_root(reader, lo + k, hi)]
    right = _subproof(reader, m - k, lo + k, hi, at_old_root=False)
    return [*right, subtree_root(reader, lo, lo + k)]


# --- which nodes an operation reads, so an async store can fetch them in one query -----


class MappingNodes:
    """A NodeReader over prefetched rows, keyed by (level, index)."""

    def __init__(self, nodes: Mapping[tuple[int, int], bytes]) -> None:
        self._nodes = nodes

    def node(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[level, index]
        except KeyError:
            raise LookupError(f"node ({level}, {index}) was not fetched") from None


class _RecordingReader:
    """Records which nodes are asked for; the hashes it returns are placeholders, which is
    enough because which nodes a proof reads depends on sizes and indexes only."""

    def __init__(self) -> None:
        self.requested: dict[NodeId, None] = {}

    def node(self, level: int, index: int) -> bytes:
        self.requested[NodeId(level, index)] = None
        return EMPTY_ROOT


def root_nodes(tree_size: int) -> list[NodeId]:
    """Nodes that tree_root reads; also every node appending after tree_size may read."""
    _check_range(0, tree_size)
    return list(_perfect_parts(0, tree_size))


def inclusion_proof_nodes(index: int, tree_size: int) -> list[NodeId]:
    recorder = _RecordingReader()
    inclusion_proof(recorder, index, tree_size)
    return list(recorder.requested)


def consistency_proof_nodes(old_size: int, new_size: int) -> list[NodeId]:
    recorder = _RecordingReader()
    consistency_proof(recorder, old_size, new_size)
    return list(recorder.requested)


# --- appending ---------------------------------------------------------------------------


def nodes_completed_by(reader: NodeReader, size_before: int, new_leaf: bytes) -> list[MerkleNode]:
    """The nodes that appending leaf hash ``new_leaf`` at index ``size_before`` completes.

    The leaf itself (level 0), then one parent per trailing 1 bit of ``size_before``: each
    such bit means the new node is a right child whose left sibling is already complete.
    Reads exactly those left siblings, all of them in ``root_nodes(size_before)``.
    """
    if len(new_leaf) != HASH_SIZE:
        raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(new_leaf)}")
    if size_before < 0:
        raise ValueError(f"invalid tree size {size_before}")
    level, index, value = 0, size_before, new_leaf
    completed = [MerkleNode(level, index, value)]
    while index & 1:
        value = node_hash(reader.node(level, index - 1), value)
        level, index = level + 1, index >> 1
        completed.append(MerkleNode(level, index, value))
    return completed


class _Overlay:
    """A reader that sees the base store plus nodes completed earlier in the same batch."""

    def __init__(self, base: NodeReader) -> None:
        self._base = base
        self.pending: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        found = self.pending.get((level, index))
        return found if found is not None else self._base.node(level, index)


def nodes_completed_by_batch(
    reader: NodeReader, size_before: int, new_leaves: Iterable[bytes]
) -> list[MerkleNode]:
    """All nodes a batch of appends completes, in order: the rows a writer inserts.

    ``reader`` needs only the nodes of ``root_nodes(size_before)``; siblings completed
    within the batch come from the batch itself.
    """
    overlay = _Overlay(reader)
    completed: list[MerkleNode] = []
    for offset, leaf in enumerate(new_leaves):
        for node in nodes_completed_by(overlay, size_before + offset, leaf):
            overlay.pending[node.level, node.index] = node.hash
            completed.append(node)
    return completed


class InMemoryNodes:
    """Every complete perfect subtree of a growing tree, as ``merkle_nodes`` will hold it."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaf_hashes:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def node(self, level: int, index: int) -> bytes:
        if not (0 <= level < len(self._levels) and 0 <= index < len(self._levels[level])):
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        return self._levels[level][index]

    def append(self, leaf: bytes) -> list[MerkleNode]:
        """Add a leaf hash; returns the nodes it completed (the rows to insert)."""
        completed = nodes_completed_by(self, self.size, leaf)
        for node in completed:
            if node.level == len(self._levels):
                self._levels.append([])
            # The node completed at a level is always the next one there: index == len(row).
            self._levels[node.level].append(node.hash)
        return completed

    def root(self) -> bytes:
        return tree_root(self, self.size)


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) ------------------------------------------


def _all_hashes(*values: bytes) -> bool:
    return all(len(value) == HASH_SIZE for value in values)


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``root``.

    The size is not bound by the root alone: check ``root`` and ``tree_size`` against a
    verified tree head.
    """
    if not _all_hashes(leaf, root, *proof) or not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    computed = leaf
    for sibling in proof:
        if sn == 0:
            return False  # proof longer than the path
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            computed = node_hash(computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree of ``old_root`` is a prefix of the tree of ``new_root``.

    Same size: the proof must be empty and the roots equal. Old size 0: the proof must be
    empty and ``old_root`` the empty-tree root (every tree extends the empty one).
    """
    if not _all_hashes(old_root, new_root, *proof) or not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root and (old_size > 0 or old_root == EMPTY_ROOT)
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    # A power-of-two old tree is a perfect subtree of the new one; its root starts the path.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_computed = new_computed = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False  # proof longer than the path
        if fn & 1 or fn == sn:
            old_computed = node_hash(sibling, old_computed)
            new_computed = node_hash(sibling, new_computed)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            new_computed = node_hash(new_computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and old_computed == old_root and new_computed == new_root
