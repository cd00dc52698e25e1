"""The Merkle tree in PostgreSQL: ``ledger.merkle_nodes`` and ``ledger.merkle_state``.

Reads fetch exactly the nodes an operation needs (``merkle.*_nodes``) in one query and hand
them to the pure code as ``MappingNodes``; writes insert completed nodes, never update one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proto.canonical import GENESIS_HASH
from services.common.db import Conn
from services.ledger.audit.merkle import MappingNodes, MerkleNode, NodeId, root_nodes, tree_root


@dataclass(frozen=True, slots=True)
class TreeState:
    tree_size: int
    chain_hash: bytes  # the chain hash recomputed at position tree_size


class TreeNotBuilt(LookupError):
    """A node of a tree larger than the one built so far was asked for."""


async def read_state(conn: Conn, *, lock: str = "") -> TreeState:
    """The build state; ``lock`` is "", "FOR SHARE" or "FOR UPDATE" (inside a transaction)."""
    if lock not in ("", "FOR SHARE", "FOR UPDATE"):
        raise ValueError(f"not a row lock: {lock!r}")
    row = await conn.fetchrow(f"SELECT tree_size, chain_hash FROM ledger.merkle_state {lock}")
    if row is None:
        raise RuntimeError("ledger.merkle_state has no row: migration 0004 did not run")
    return TreeState(row["tree_size"], bytes(row["chain_hash"]))


async def write_state(conn: Conn, state: TreeState) -> None:
    await conn.execute(
        "UPDATE ledger.merkle_state SET tree_size = $1, chain_hash = $2",
        state.tree_size,
        state.chain_hash,
    )


async def fetch_nodes(conn: Conn, wanted: Iterable[NodeId]) -> MappingNodes:
    """The wanted nodes in one query; TreeNotBuilt if any is not stored."""
    ids = list(dict.fromkeys(wanted))
    if not ids:
        return MappingNodes({})
    rows = await conn.fetch(
        "SELECT n.level, n.idx, n.hash FROM ledger.merkle_nodes n"
        " JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)"
        " ON n.level = w.level AND n.idx = w.idx",
        [node.level for node in ids],
        [node.index for node in ids],
    )
    if len(rows) != len(ids):
        found = {(r["level"], r["idx"]) for r in rows}
        missing = next(node for node in ids if (node.level, node.index) not in found)
        raise TreeNotBuilt(f"node ({missing.level}, {missing.index}) is not built")
    return MappingNodes({(r["level"], r["idx"]): bytes(r["hash"]) for r in rows})


async def insert_nodes(conn: Conn, nodes: list[MerkleNode]) -> None:
    if nodes:
        await conn.copy_records_to_table(
            "merkle_nodes",
            schema_name="ledger",
            columns=["level", "idx", "hash"],
            records=[(node.level, node.index, node.hash) for node in nodes],
        )


async def root_at(conn: Conn, tree_size: int) -> bytes:
    return tree_root(await fetch_nodes(conn, root_nodes(tree_size)), tree_size)


async def reset_tree(conn: Conn) -> None:
    """Forget the whole tree, so it is rebuilt from the log (run as the owner, not the app).

    Signed heads stay: heads signed before stay checkable against the rebuilt tree, which
    is how a rewritten log shows.
    """
    async with conn.transaction():
        await read_state(conn, lock="FOR UPDATE")
        await conn.execute("DELETE FROM ledger.merkle_nodes")
        await write_state(conn, TreeState(0, GENESIS_HASH))
