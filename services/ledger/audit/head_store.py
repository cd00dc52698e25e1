"""Signed tree heads in ``ledger.tree_heads`` (every one kept) and the keys that signed them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import msgspec

from services.common.db import Conn
from services.ledger.audit.node_store import read_state, root_at
from services.ledger.audit.schemas import StoredTreeHead
from services.ledger.audit.signing import TreeSigner
from services.ledger.audit.tree_head import format_timestamp_ms, sign_tree_head, timestamp_ms_of

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HEAD_COLUMNS = "head_id, tree_size, root_hash, timestamp_ms, key_id, signature"


def _head(row: asyncpg.Record) -> StoredTreeHead:
    return StoredTreeHead(
        head_id=row["head_id"],
        tree_size=row["tree_size"],
        root_hash=bytes(row["root_hash"]).hex(),
        timestamp=format_timestamp_ms(row["timestamp_ms"]),
        key_id=row["key_id"],
        signature=row["signature"],
    )


async def register_key(conn: Conn, signer: TreeSigner) -> None:
    """Publish the signer's public key before it signs anything (kept after rotation)."""
    await conn.execute(
        "INSERT INTO ledger.tree_signing_keys (key_id, public_jwk) VALUES ($1, $2::text::jsonb)"
        " ON CONFLICT (key_id) DO NOTHING",
        signer.key_id,
        msgspec.json.encode(signer.public_jwk()).decode(),
    )


async def public_keys(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT public_jwk::text AS jwk FROM ledger.tree_signing_keys ORDER BY first_used_at, key_id"
    )
    return [msgspec.json.decode(r["jwk"]) for r in rows]


async def latest_head(conn: Conn) -> StoredTreeHead | None:
    row = await conn.fetchrow(
        f"SELECT {_HEAD_COLUMNS} FROM ledger.tree_heads ORDER BY head_id DESC LIMIT 1"
    )
    return None if row is None else _head(row)


async def heads_after(conn: Conn, after_head_id: int, limit: int) -> list[StoredTreeHead]:
    rows = await conn.fetch(
        f"SELECT {_HEAD_COLUMNS} FROM ledger.tree_heads WHERE head_id > $1"
        " ORDER BY head_id LIMIT $2",
        after_head_id,
        limit,
    )
    return [_head(r) for r in rows]


async def sign_current_tree(conn: Conn, signer: TreeSigner, now: dt.datetime) -> StoredTreeHead:
    """Sign the tree as built now and keep the head.

    The state row is share-locked so a rebuild cannot reset the tree between reading its
    size and its root. Timestamps never run backwards, even if the clock does.
    """
    async with conn.transaction():
        state = await read_state(conn, lock="FOR SHARE")
        root = await root_at(conn, state.tree_size)
        last_ms: int | None = await conn.fetchval(
            "SELECT timestamp_ms FROM ledger.tree_heads ORDER BY head_id DESC LIMIT 1"
        )
        moment = max(now, _EPOCH + dt.timedelta(milliseconds=last_ms or 0))
        head = sign_tree_head(signer.private_key, signer.key_id, state.tree_size, root, moment)
        head_id: int = await conn.fetchval(
            "INSERT INTO ledger.tree_heads (tree_size, root_hash, timestamp_ms, key_id, signature)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING head_id",
            head.tree_size,
            root,
            timestamp_ms_of(head),
            head.key_id,
            head.signature,
        )
    return StoredTreeHead(head_id=head_id, **msgspec.structs.asdict(head))


async def sign_if_grown(conn: Conn, signer: TreeSigner, now: dt.datetime) -> StoredTreeHead | None:
    """A new head only when the tree has grown since the last one (periodic heads)."""
    latest = await latest_head(conn)
    built = (await read_state(conn)).tree_size
    if built == 0 or (latest is not None and built <= latest.tree_size):
        return None
    return await sign_current_tree(conn, signer, now)
