"""The RFC 6962 Merkle tree: known vectors, proofs for many shapes, forgeries rejected,
incremental node storage, and proof generation reading O(log n) stored nodes."""

from __future__ import annotations

import functools
import hashlib
import math
import random

import pytest

from services.ledger.audit.merkle import (
    EMPTY_ROOT,
    InMemoryNodes,
    MappingNodes,
    MerkleNode,
    NodeId,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    nodes_completed_by_batch,
    root_from_leaves,
    root_nodes,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# Test vectors of the RFC 6962 reference implementations (certificate-transparency, now
# transparency-dev/merkle testonly/constants.go and proof/verify_test.go).
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
VECTOR_NODES = {
    (level, index): bytes.fromhex(h)
    for level, row in enumerate(
        [
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            ],
            [
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            ],
            [
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
            ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
        ]
    )
    for index, h in enumerate(row)
}


def _hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# (leaf index, tree size, PATH); the reference lists 1-based leaf numbers.
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        _hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _hexes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _hexes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _hexes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]
# (old size, new size, PROOF)
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        _hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _hexes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129]
SIZES += [255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 3000, 4097]
FULLY_CHECKED = 129  # every index / every old size up to this tree size; samples above it
MAX_SIZE = max(SIZES)
LEAF_COUNT = 2 * MAX_SIZE + 1  # room for the "wrong size" probes of the largest tree


def _chain_hash(n: int) -> bytes:
    """Stand-in for event n's 32-byte chain hash: deterministic, distinct."""
    return hashlib.sha256(b"event" + n.to_bytes(8, "big")).digest()


@functools.cache
def _leaves() -> tuple[bytes, ...]:
    return tuple(leaf_hash(_chain_hash(n)) for n in range(LEAF_COUNT))


@functools.cache
def _nodes() -> InMemoryNodes:
    return InMemoryNodes(_leaves())


@functools.cache
def _root(size: int) -> bytes:
    assert 0 <= size <= LEAF_COUNT
    return root_from_leaves(_leaves()[:size])


def _indexes(size: int, rng: random.Random) -> list[int]:
    if size <= FULLY_CHECKED:
        return list(range(size))
    k = 1 << ((size - 1).bit_length() - 1)
    edges = {0, 1, k - 1, k, size - 2, size - 1}
    return sorted(edges | set(rng.sample(range(size), 40)))


def _flip(proof: list[bytes], position: int) -> list[bytes]:
    forged = list(proof)
    forged[position] = bytes([forged[position][0] ^ 0x08]) + forged[position][1:]
    return forged


# --- hashing and roots -------------------------------------------------------------------


def test_hashing_is_domain_separated() -> None:
    assert leaf_hash(b"") == VECTOR_ROOTS[1]
    assert VECTOR_ROOTS[0] == EMPTY_ROOT
    left, right = b"\x01" * 32, b"\x02" * 32
    assert node_hash(left, right) != leaf_hash(left + right)


def test_vector_roots_for_every_prefix() -> None:
    hashes = [leaf_hash(leaf) for leaf in VECTOR_LEAVES]
    nodes = InMemoryNodes()
    assert nodes.root() == VECTOR_ROOTS[0]
    for size, leaf in enumerate(hashes, start=1):
        nodes.append(leaf)
        assert root_from_leaves(hashes[:size]) == VECTOR_ROOTS[size]
        assert nodes.root() == VECTOR_ROOTS[size]


def test_vector_perfect_subtrees_are_the_stored_nodes() -> None:
    nodes = InMemoryNodes(leaf_hash(leaf) for leaf in VECTOR_LEAVES)
    for (level, index), expected in VECTOR_NODES.items():
        assert nodes.node(level, index) == expected


@pytest.mark.parametrize("size", SIZES)
def test_incremental_root_equals_reference(size: int) -> None:
    assert tree_root(_nodes(), size) == _root(size)


def test_incremental_root_after_every_append() -> None:
    leaves = _leaves()[:300]
    nodes = InMemoryNodes()
    for size, leaf in enumerate(leaves, start=1):
        nodes.append(leaf)
        assert nodes.size == size
        assert nodes.root() == root_from_leaves(leaves[:size])


def test_append_returns_exactly_the_completed_nodes() -> None:
    leaves = _leaves()[:200]
    nodes = InMemoryNodes()
    rows: list[MerkleNode] = []
    for leaf in leaves:
        rows.extend(nodes.append(leaf))
    # One row per perfect subtree, each exactly once, each with its reference hash.
    expected = {(level, index) for level in range(8) for index in range(len(leaves) >> level)}
    assert len(rows) == len(expected)
    assert {(row.level, row.index) for row in rows} == expected
    for row in rows:
        span = leaves[row.index << row.level : (row.index + 1) << row.level]
        assert row.hash == root_from_leaves(span)


def test_append_of_leaf_seven_completes_three_parents() -> None:
    nodes = InMemoryNodes(_leaves()[:7])
    completed = nodes.append(_leaves()[7])
    assert [(n.level, n.index) for n in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]


def test_batch_append_from_a_store_holding_only_the_frontier() -> None:
    leaves = _leaves()[:1000]
    for size_before, batch in [(0, 37), (1, 1), (7, 9), (100, 157), (511, 300), (640, 360)]:
        full = InMemoryNodes(leaves[:size_before])
        frontier = {
            (n.level, n.index): full.node(n.level, n.index) for n in root_nodes(size_before)
        }
        new = leaves[size_before : size_before + batch]
        rows = nodes_completed_by_batch(MappingNodes(frontier), size_before, new)
        expected = [row for leaf in new for row in full.append(leaf)]
        assert rows == expected


def test_append_rejects_a_non_hash() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        InMemoryNodes().append(b"short")


def test_reader_refuses_incomplete_subtrees() -> None:
    nodes = InMemoryNodes(_leaves()[:5])
    for level, index in [(0, 5), (1, 2), (3, 0), (-1, 0), (0, -1)]:
        with pytest.raises(LookupError):
            nodes.node(level, index)


def test_subtree_root_rejects_ranges_that_are_not_subtrees() -> None:
    nodes = _nodes()
    assert subtree_root(nodes, 8, 8) == EMPTY_ROOT
    assert subtree_root(nodes, 8, 13) == root_from_leaves(_leaves()[8:13])
    for start, end in [(1, 3), (4, 9), (6, 10), (-1, 1), (5, 4)]:
        with pytest.raises(ValueError, match="leaf range"):
            subtree_root(nodes, start, end)


# --- inclusion ---------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "expected"), VECTOR_INCLUSION)
def test_vector_inclusion_proofs(index: int, size: int, expected: list[bytes]) -> None:
    nodes = InMemoryNodes(leaf_hash(leaf) for leaf in VECTOR_LEAVES[:size])
    assert inclusion_proof(nodes, index, size) == expected
    leaf = leaf_hash(VECTOR_LEAVES[index])
    assert verify_inclusion(leaf, index, size, expected, VECTOR_ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), VECTOR_INCLUSION[1:])
def test_vector_inclusion_probes_are_rejected(index: int, size: int, proof: list[bytes]) -> None:
    # The corruptions the reference implementation's own tests try, same root throughout.
    leaf, root = leaf_hash(VECTOR_LEAVES[index]), VECTOR_ROOTS[size]
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (SOME_HASH, index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, proof[:-1], root),
        (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root),
        *((leaf, index, size, _flip(proof, i), root) for i in range(len(proof))),
    ]
    for probe in probes:
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_verify(size: int) -> None:
    nodes, leaves, root = _nodes(), _leaves(), _root(size)
    for index in _indexes(size, random.Random(size)):
        proof = inclusion_proof(nodes, index, size)
        assert verify_inclusion(leaves[index], index, size, proof, root)


@pytest.mark.parametrize("size", [s for s in SIZES if s > 1])
def test_forged_inclusion_proofs_are_rejected(size: int) -> None:
    nodes, leaves, root = _nodes(), _leaves(), _root(size)
    rng = random.Random(-size)
    for index in rng.sample(_indexes(size, rng), min(size, 12)):
        proof = inclusion_proof(nodes, index, size)
        leaf = leaves[index]
        assert not verify_inclusion(
            leaf, index, size, _flip(proof, rng.randrange(len(proof))), root
        )
        assert not verify_inclusion(leaves[(index + 1) % size], index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not verify_inclusion(leaf, index, size, [*proof, SOME_HASH], root)
        assert not verify_inclusion(leaf, index, size, [SOME_HASH, *proof], root)
        assert not verify_inclusion(leaf, index, size, proof, _root(size - 1))
        # A wrong position, with the genuine root of whatever size is claimed: the root
        # alone does not fix the size (trees of 3 and 4 leaves share leaf 0's path shape),
        # so a verifier takes both from one signed tree head, as here.
        for wrong_index, wrong_size in [
            (index - 1, size),
            (index + 1, size),
            (index ^ 2, size),
            (index, size - 1),
            (index, size + 1),
            (index, size // 2),
            (index, size * 2),
        ]:
            if (wrong_index, wrong_size) != (index, size):
                assert not verify_inclusion(
                    leaf, wrong_index, wrong_size, proof, _root(wrong_size)
                ), (index, size, wrong_index, wrong_size)


def test_inclusion_rejects_impossible_positions() -> None:
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1), (5, 5)]:
        assert not verify_inclusion(leaf, index, size, [], leaf)
    assert not verify_inclusion(b"", 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [], b"")
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(_nodes(), 5, 5)
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(_nodes(), -1, 5)


# --- consistency -------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "expected"), VECTOR_CONSISTENCY)
def test_vector_consistency_proofs(old: int, new: int, expected: list[bytes]) -> None:
    nodes = InMemoryNodes(leaf_hash(leaf) for leaf in VECTOR_LEAVES[:new])
    assert consistency_proof(nodes, old, new) == expected
    assert verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], expected)


@pytest.mark.parametrize(("old", "new", "proof"), VECTOR_CONSISTENCY[1:])
def test_vector_consistency_probes_are_rejected(old: int, new: int, proof: list[bytes]) -> None:
    old_root, new_root = VECTOR_ROOTS[old], VECTOR_ROOTS[new]
    probes = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (old, new, b"WrongRoot", new_root, proof),
        (old, new, old_root, b"WrongRoot", proof),
        (old, new, SOME_HASH, new_root, proof),
        (old, new, old_root, SOME_HASH, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, b""]),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [b"", *proof]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [new_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, proof[:-1]),
        *((old, new, old_root, new_root, _flip(proof, i)) for i in range(len(proof))),
    ]
    for probe in probes:
        assert not verify_consistency(*probe), probe


def _consistency_pairs(rng: random.Random) -> list[tuple[int, int]]:
    pairs = [(old, new) for new in range(1, 34) for old in range(0, new + 1)]
    for new in SIZES:
        olds = {1, 2, new // 2, new - 1, new, *rng.sample(range(1, new + 1), min(new, 8))}
        pairs += [(old, new) for old in sorted(olds) if old >= 1]
    return pairs


@pytest.mark.parametrize(
    ("old", "new"), [(o, n) for o, n in _consistency_pairs(random.Random(6962)) if n > 33]
)
def test_consistency_proofs_verify_for_large_trees(old: int, new: int) -> None:
    proof = consistency_proof(_nodes(), old, new)
    assert verify_consistency(old, new, _root(old), _root(new), proof)


def test_consistency_proofs_verify_for_every_small_pair() -> None:
    for new in range(1, 34):
        for old in range(0, new + 1):
            proof = consistency_proof(_nodes(), old, new)
            assert verify_consistency(old, new, _root(old), _root(new), proof), (old, new)


@pytest.mark.parametrize("new", [s for s in SIZES if s > 2])
def test_forged_consistency_proofs_are_rejected(new: int) -> None:
    rng = random.Random(new)
    for old in sorted({1, new // 2, new - 1, rng.randrange(1, new)}):
        proof = consistency_proof(_nodes(), old, new)
        old_root, new_root = _root(old), _root(new)
        flipped = _flip(proof, rng.randrange(len(proof)))
        assert not verify_consistency(old, new, old_root, new_root, flipped)
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not verify_consistency(old, new, old_root, new_root, [*proof, SOME_HASH])
        assert not verify_consistency(old, new, old_root, new_root, [SOME_HASH, *proof])
        assert not verify_consistency(old, new, SOME_HASH, new_root, proof)
        assert not verify_consistency(old, new, old_root, SOME_HASH, proof)
        assert not verify_consistency(new, old, new_root, old_root, proof)
        for wrong_old, wrong_new in [
            (old - 1, new),
            (old + 1, new),
            (old ^ 2, new),
            (old, new - 1),
            (old, new + 1),
            (old, new * 2),
        ]:
            if (wrong_old, wrong_new) != (old, new) and 0 <= wrong_old <= wrong_new:
                assert not verify_consistency(
                    wrong_old, wrong_new, _root(wrong_old), _root(wrong_new), proof
                ), (old, new, wrong_old, wrong_new)


def test_consistency_edge_sizes() -> None:
    root1, root5 = _root(1), _root(5)
    # Same size: empty proof and equal roots.
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, SOME_HASH, [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, SOME_HASH, SOME_HASH, [])
    # From the empty tree: empty proof, and the old root must be the empty-tree root.
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5, [EMPTY_ROOT])
    assert not verify_consistency(0, 5, root1, root5, [])
    # Backwards, negative, and malformed hashes.
    assert not verify_consistency(5, 1, root5, root1, [])
    assert not verify_consistency(-1, 5, root1, root5, [])
    assert not verify_consistency(1, 2, root1, _root(2), [])
    assert not verify_consistency(1, 5, root1[:31], root5, consistency_proof(_nodes(), 1, 5))
    assert consistency_proof(_nodes(), 0, 5) == []
    assert consistency_proof(_nodes(), 5, 5) == []
    for old, new in [(6, 5), (-1, 5)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_proof(_nodes(), old, new)


# --- proofs read O(log n) stored nodes ---------------------------------------------------


class LazyCountingReader:
    """Perfect-subtree hashes computed on demand from a leaf function and memoized, so a
    100 000-leaf tree need not be built; counts the reads the code under test makes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads: list[NodeId] = []
        self._memo: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        if index < 0 or (index + 1) << level > self.size:
            raise LookupError((level, index))
        self.reads.append(NodeId(level, index))
        return self._hash(level, index)

    def _hash(self, level: int, index: int) -> bytes:
        found = self._memo.get((level, index))
        if found is None:
            if level == 0:
                found = leaf_hash(_chain_hash(index))
            else:
                left, right = self._hash(level - 1, 2 * index), self._hash(level - 1, 2 * index + 1)
                found = node_hash(left, right)
            self._memo[level, index] = found
        return found


def test_proofs_read_logarithmically_many_nodes() -> None:
    size = 100_000
    bound = 2 * math.log2(size) + 2
    reader = LazyCountingReader(size)
    root = tree_root(reader, size)
    assert len(reader.reads) == bin(size).count("1")
    rng = random.Random(100_000)
    for index in [0, 1, 65_535, 65_536, 99_998, 99_999, *rng.sample(range(size), 25)]:
        reader.reads.clear()
        proof = inclusion_proof(reader, index, size)
        assert len(reader.reads) <= bound, (index, len(reader.reads))
        assert reader.reads == inclusion_proof_nodes(index, size)
        assert verify_inclusion(leaf_hash(_chain_hash(index)), index, size, proof, root)
    for old in [1, 2, 3, 65_535, 65_536, 65_537, 99_999, *rng.sample(range(1, size), 25)]:
        old_root = tree_root(reader, old)
        reader.reads.clear()
        proof = consistency_proof(reader, old, size)
        assert len(reader.reads) <= bound, (old, len(reader.reads))
        assert reader.reads == consistency_proof_nodes(old, size)
        assert verify_consistency(old, size, old_root, root, proof)


def test_prefetched_nodes_are_enough_for_proofs() -> None:
    full = _nodes()
    for index, size in [(0, 1), (6, 7), (700, 1025), (2999, 3000)]:
        wanted = inclusion_proof_nodes(index, size)
        fetched = MappingNodes({(n.level, n.index): full.node(n.level, n.index) for n in wanted})
        assert inclusion_proof(fetched, index, size) == inclusion_proof(full, index, size)
    for old, new in [(1, 2), (6, 7), (513, 1025), (1024, 4097)]:
        wanted = consistency_proof_nodes(old, new)
        fetched = MappingNodes({(n.level, n.index): full.node(n.level, n.index) for n in wanted})
        assert consistency_proof(fetched, old, new) == consistency_proof(full, old, new)
    with pytest.raises(LookupError):
        MappingNodes({}).node(0, 0)
