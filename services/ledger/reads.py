"""Read queries over the log: by position, by stream, by event id, and the head."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec

from proto.canonical import GENESIS_HASH
from proto.envelope import EventMetadata, LedgerHead, RecordedEvent
from proto.events import LedgerEvent
from proto.partitions import Partition
from services.common.db import Conn

_COLUMNS = (
    "position, event_id::text AS event_id, stream, stream_version, type, schema_version,"
    " data::text AS data, metadata::text AS metadata, recorded_at, hash"
)
_data_decoder = msgspec.json.Decoder(LedgerEvent)
_metadata_decoder = msgspec.json.Decoder(EventMetadata)


def _row_fields(row: asyncpg.Record) -> dict[str, Any]:
    """A log row's fields as every read API returns them, but data and metadata."""
    return {
        "position": row["position"],
        "event_id": row["event_id"],
        "stream": row["stream"],
        "stream_version": row["stream_version"],
        "type": row["type"],
        "schema_version": row["schema_version"],
        "recorded_at": row["recorded_at"],
        "hash": bytes(row["hash"]).hex(),
    }


def to_recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        **_row_fields(row),
        data=_data_decoder.decode(row["data"]),
        metadata=_metadata_decoder.decode(row["metadata"]),
    )


class RecordedEventJson(msgspec.Struct, frozen=True, kw_only=True):
    """A ``RecordedEvent`` whose data and metadata stay the JSON text PostgreSQL returned:
    encoded as it is, it gives the same document without decoding and re-encoding them (the
    stored JSON was validated when it was appended). For streaming the whole log."""

    position: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    schema_version: int
    data: msgspec.Raw
    metadata: msgspec.Raw
    recorded_at: dt.datetime
    hash: str


def _institution_filter(institution_id: str | None, arg: int) -> str:
    if institution_id is None:
        return ""
    return f" AND metadata->'actor'->>'institution_id' = ${arg}"


async def read_log(
    pool: asyncpg.Pool, after_position: int, limit: int, institution_id: str | None = None
) -> list[RecordedEvent]:
    args: list[object] = [after_position, limit]
    if institution_id is not None:
        args.append(institution_id)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM ledger.events WHERE position > $1"
        f"{_institution_filter(institution_id, 3)} ORDER BY position LIMIT $2",
        *args,
    )
    return [to_recorded(r) for r in rows]


def _partition_filter(partition: Partition | None, arg: int) -> str:
    # A learner's events carry its bucket; every other stream's (bucket NULL) are every
    # partition's (proto.partitions).
    if partition is None:
        return ""
    return f" AND (bucket IS NULL OR bucket % ${arg}::int = ${arg + 1}::int)"


async def read_log_to_head(
    pool: asyncpg.Pool,
    after_position: int,
    limit: int,
    *,
    types: list[str] | None = None,
    partition: Partition | None = None,
) -> tuple[list[RecordedEvent], int]:
    """Events after ``after_position`` of ``types`` (all when None) and of ``partition`` (all
    when None), up to the head read first; and that head.

    Positions commit in order, so every event up to the head is visible: a page shorter
    than ``limit`` means nothing of those types and that partition lies between
    ``after_position`` and the head.
    """
    head = (await read_head(pool)).position
    args: list[object] = [after_position, head, limit]
    where = ""
    if types is not None:
        args.append(types)
        where += f" AND type = ANY(${len(args)}::text[])"
    if partition is not None:
        where += _partition_filter(partition, len(args) + 1)
        args.extend((partition.count, partition.index))
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM ledger.events WHERE position > $1 AND position <= $2{where}"
        " ORDER BY position LIMIT $3",
        *args,
    )
    return [to_recorded(r) for r in rows], head


async def stream_log(
    pool: asyncpg.Pool,
    after_position: int,
    to_position: int | None,
    fetch_rows: int,
    *,
    partition: Partition | None = None,
) -> AsyncIterator[RecordedEventJson]:
    """Every event after ``after_position`` (up to ``to_position``; only ``partition``'s when
    given), read with a cursor."""
    upper = to_position if to_position is not None else 2**62
    args: list[object] = [after_position, upper]
    if partition is not None:
        args.extend((partition.count, partition.index))
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = conn.cursor(
            f"SELECT {_COLUMNS} FROM ledger.events WHERE position > $1 AND position <= $2"
            f"{_partition_filter(partition, 3)} ORDER BY position",
            *args,
            prefetch=fetch_rows,
        )
        async for row in cursor:
            yield RecordedEventJson(
                **_row_fields(row),
                data=msgspec.Raw(row["data"].encode()),
                metadata=msgspec.Raw(row["metadata"].encode()),
            )


async def read_stream(
    pool: asyncpg.Pool,
    stream: str,
    after_version: int,
    limit: int,
    institution_id: str | None = None,
) -> list[RecordedEvent]:
    args: list[object] = [stream, after_version, limit]
    if institution_id is not None:
        args.append(institution_id)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM ledger.events WHERE stream = $1 AND stream_version > $2"
        f"{_institution_filter(institution_id, 4)} ORDER BY stream_version LIMIT $3",
        *args,
    )
    return [to_recorded(r) for r in rows]


async def read_event(pool: asyncpg.Pool, event_id: uuid.UUID) -> RecordedEvent | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM ledger.events WHERE event_id = $1", event_id)
    return None if row is None else to_recorded(row)


async def read_event_at(conn: Conn, position: int) -> RecordedEvent:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger.events WHERE position = $1", position)
    if row is None:
        raise LookupError(f"no event at position {position}")
    return to_recorded(row)


async def read_head(pool: asyncpg.Pool) -> LedgerHead:
    row = await pool.fetchrow(
        "SELECT position, hash FROM ledger.events ORDER BY position DESC LIMIT 1"
    )
    if row is None:
        return LedgerHead(position=0, hash=GENESIS_HASH.hex())
    return LedgerHead(position=row["position"], hash=bytes(row["hash"]).hex())
