"""Proofs from the tree stored in PostgreSQL verify for every shape of tree, and read
O(log n) stored nodes in one query."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common import db
from services.ledger.audit import proofs
from services.ledger.audit.merkle import (
    consistency_proof_nodes,
    inclusion_proof_nodes,
    leaf_hash,
    nodes_completed_by_batch,
    root_from_leaves,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)
from services.ledger.audit.node_store import TreeNotBuilt, fetch_nodes, insert_nodes

pytestmark = pytest.mark.integration

SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 2999, 3001]
LEAVES = 3001
BATCH = 250  # built in steps, as the TreeBuilder does


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    # As the application role: it may insert nodes and read them, nothing more.
    connection = await db.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def leaves() -> list[bytes]:
    return [leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(LEAVES)]


async def build(conn: asyncpg.Connection, all_leaves: list[bytes]) -> None:
    for start in range(0, len(all_leaves), BATCH):
        frontier = await fetch_nodes(conn, root_nodes(start))
        batch = all_leaves[start : start + BATCH]
        await insert_nodes(conn, nodes_completed_by_batch(frontier, start, batch))


async def test_stored_proofs_verify_for_trees_of_every_shape(conn: asyncpg.Connection) -> None:
    all_leaves = leaves()
    await build(conn, all_leaves)
    rng = random.Random(6962)
    roots = {size: root_from_leaves(all_leaves[:size]) for size in [0, *SIZES]}
    for size in SIZES:
        indexes = range(size) if size <= 17 else rng.sample(range(size), 40)
        for index in indexes:
            proof = await proofs.inclusion(conn, index + 1, size)
            assert proof.root_hash == roots[size].hex()
            assert proof.leaf_hash == all_leaves[index].hex()
            path = [bytes.fromhex(h) for h in proof.audit_path]
            assert verify_inclusion(all_leaves[index], index, size, path, roots[size])
        for old in [0, *SIZES]:
            if old > size:
                continue
            consistency = await proofs.consistency(conn, old, size)
            assert (consistency.from_root, consistency.to_root) == (
                roots[old].hex(),
                roots[size].hex(),
            )
            hashes = [bytes.fromhex(h) for h in consistency.proof]
            assert verify_consistency(old, size, roots[old], roots[size], hashes)


def test_a_proof_reads_logarithmically_many_nodes() -> None:
    for size in SIZES:
        log_n = size.bit_length()
        for index in {0, size // 2, size - 1}:
            read = {*inclusion_proof_nodes(index, size), *root_nodes(size)}
            assert len(read) <= 2 * log_n + 1
        for old in {1, size // 3, size - 1} - {0}:
            read = {*consistency_proof_nodes(old, size), *root_nodes(old), *root_nodes(size)}
            assert len(read) <= 4 * log_n + 2


async def test_a_tree_larger_than_the_one_built_has_no_proof(conn: asyncpg.Connection) -> None:
    await build(conn, leaves()[:100])
    await proofs.inclusion(conn, 100, 100)
    with pytest.raises(TreeNotBuilt):
        await proofs.inclusion(conn, 100, 101)
    with pytest.raises(TreeNotBuilt):
        await proofs.consistency(conn, 50, 101)


async def test_the_application_role_cannot_rewrite_the_tree(conn: asyncpg.Connection) -> None:
    await build(conn, leaves()[:4])
    for statement in (
        "UPDATE ledger.merkle_nodes SET hash = hash",
        "DELETE FROM ledger.merkle_nodes",
        "DELETE FROM ledger.tree_heads",
        "UPDATE ledger.tree_heads SET tree_size = 0",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
