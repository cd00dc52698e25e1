"""The canonical bytes of a log entry, and the hash chain over them (docs/architecture.md §3).

Canonical bytes of event n: the UTF-8 JSON object

    {"data": ..., "event_id": ..., "metadata": ..., "position": n, "recorded_at": ...,
     "schema_version": ..., "stream": ..., "stream_version": ..., "type": ...}

with object keys sorted by code point at every depth, no whitespace, non-ASCII characters
written as UTF-8 (not escaped), integers in plain decimal, ``recorded_at`` as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six fraction digits), ``event_id`` as a
lower-case hyphenated UUID. Events contain no floating-point numbers.

    hash_n = SHA-256(hash_{n-1} || canonical bytes of event n),  hash_0 = 32 zero bytes.

README.md ("Verifying the chain yourself") repeats this for auditors.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

import msgspec

GENESIS_HASH = bytes(32)

_canonical_encoder = msgspec.json.Encoder(order="sorted")


# Every event of one group commit shares its recorded_at, and strftime costs more than the
# rest of an event's canonical bytes: the moments seen last are remembered.
@functools.lru_cache(maxsize=4096)
def format_recorded_at(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("recorded_at must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    """A value's canonical JSON: keys sorted at every depth, no whitespace. A msgspec Struct
    encodes exactly as its builtins would (its fields sorted like keys), so an event is
    encoded once, without a dict of it in between."""
    return _canonical_encoder.encode(value)


def canonical_bytes(
    *,
    position: int,
    event_id: str,
    stream: str,
    stream_version: int,
    type: str,
    schema_version: int,
    data: Any,
    metadata: Any,
    recorded_at: dt.datetime,
) -> bytes:
    """Deterministic bytes of one log entry; ``data``/``metadata`` are JSON-shaped values."""
    return canonical_entry_bytes(
        position=position,
        event_id=event_id,
        stream=stream,
        stream_version=stream_version,
        type=type,
        schema_version=schema_version,
        data_json=canonical_json(data),
        metadata_json=canonical_json(metadata),
        recorded_at=recorded_at,
    )


def canonical_entry_bytes(
    *,
    position: int,
    event_id: str,
    stream: str,
    stream_version: int,
    type: str,
    schema_version: int,
    data_json: bytes,
    metadata_json: bytes,
    recorded_at: dt.datetime,
) -> bytes:
    """``canonical_bytes`` with ``data`` and ``metadata`` already in canonical JSON."""
    return _canonical_encoder.encode(
        {
            "data": msgspec.Raw(data_json),
            "event_id": event_id,
            "metadata": msgspec.Raw(metadata_json),
            "position": position,
            "recorded_at": format_recorded_at(recorded_at),
            "schema_version": schema_version,
            "stream": stream,
            "stream_version": stream_version,
            "type": type,
        }
    )


def chain_hash(previous: bytes, canonical: bytes) -> bytes:
    if len(previous) != 32:
        raise ValueError("a chain hash is 32 bytes")
    return hashlib.sha256(previous + canonical).digest()
