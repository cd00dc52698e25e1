"""One step of building the Merkle tree: the next events become leaves, in one transaction.

Each leaf is recomputed from the event's content: leaf data = SHA-256(previous recomputed
chain hash || canonical bytes), the chain hash recomputed, never the stored ``hash``
column. When the two differ the log was changed after it was written; the leaf keeps the
recomputed value, so the rebuilt tree cannot be consistent with heads signed before.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.db import Conn
from services.ledger.audit.chain import ChainWalk, Mismatch
from services.ledger.audit.merkle import leaf_hash, nodes_completed_by_batch, root_nodes
from services.ledger.audit.node_store import (
    TreeState,
    fetch_nodes,
    insert_nodes,
    read_state,
    write_state,
)
from services.ledger.audit.stored_rows import AUDIT_COLUMNS, LineSplitter, MalformedRow, parse_rows

MISMATCHES_KEPT_MAX = 20


@dataclass(frozen=True)
class BuildStep:
    tree_size: int  # after the step
    leaves: int  # added by the step
    mismatch_count: int
    mismatches: list[Mismatch]  # the first few, for the log line


async def build_step(conn: Conn, batch_max: int) -> BuildStep:
    """Add up to ``batch_max`` leaves; a concurrent step or rebuild waits on the state row."""
    if batch_max < 1:
        raise ValueError("a build step adds at least one leaf")
    async with conn.transaction():
        state = await read_state(conn, lock="FOR UPDATE")
        lines = await _rows_after(conn, state.tree_size, batch_max)
        if not lines:
            return BuildStep(state.tree_size, 0, 0, [])
        rows = parse_rows(lines)
        if rows.error is not None:
            raise rows.error  # a row PostgreSQL rendered is always well-formed: a bug, loudly
        walk = ChainWalk(state.tree_size, state.chain_hash, await _stored_hex(conn, state))
        chain_hashes, mismatches = walk.recompute(rows)
        leaves = [leaf_hash(chain_hash) for chain_hash in chain_hashes]
        frontier = await fetch_nodes(conn, root_nodes(state.tree_size))
        await insert_nodes(conn, nodes_completed_by_batch(frontier, state.tree_size, leaves))
        await write_state(conn, TreeState(walk.position, walk.recomputed))
    return BuildStep(walk.position, len(leaves), len(mismatches), mismatches[:MISMATCHES_KEPT_MAX])


async def _rows_after(conn: Conn, tree_size: int, limit: int) -> list[bytes]:
    chunks: list[bytes] = []

    async def collect(chunk: bytes) -> None:
        chunks.append(chunk)

    await conn.copy_from_query(
        f"SELECT {AUDIT_COLUMNS} FROM ledger.events WHERE position > $1 ORDER BY position LIMIT $2",
        tree_size,
        limit,
        output=collect,
    )
    lines = LineSplitter()
    rows = [line for chunk in chunks for line in lines.feed(chunk)]
    if lines.finish():
        raise MalformedRow("the COPY stream ended in the middle of a row")
    return rows


async def _stored_hex(conn: Conn, state: TreeState) -> bytes | None:
    """The stored hash at tree_size, so a mismatch can tell an edited row from its heirs."""
    if state.tree_size == 0:
        return None
    stored: str | None = await conn.fetchval(
        "SELECT encode(hash, 'hex') FROM ledger.events WHERE position = $1", state.tree_size
    )
    return None if stored is None else stored.encode()
