"""Events of an NDJSON export (``GET /v1/log/ndjson``) as rows for a chain walk.

Each line is a RecordedEvent; its canonical bytes are the object without ``hash``, keys
sorted, ``recorded_at`` in the canonical spelling (msgspec writes six fraction digits, or
none when they are all zero, so the time is normalised rather than trusted as written).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from proto.canonical import format_recorded_at
from services.ledger.audit.stored_rows import MalformedRow, Rows

_line_decoder = msgspec.json.Decoder(dict[str, Any])
_canonical_encoder = msgspec.json.Encoder(order="sorted")
_CANONICAL_TIME = len("2026-01-01T00:00:00.000000Z")
CANONICAL_KEYS = (
    "data",
    "event_id",
    "metadata",
    "position",
    "recorded_at",
    "schema_version",
    "stream",
    "stream_version",
    "type",
)


def canonical_time(text: str) -> str:
    if len(text) == _CANONICAL_TIME and text[19] == "." and text[-1] == "Z":
        return text
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return format_recorded_at(moment)


def canonical_of_recorded(doc: dict[str, Any]) -> bytes:
    """Canonical bytes of a RecordedEvent given as JSON builtins (the export, /v1/log)."""
    document = {key: doc[key] for key in CANONICAL_KEYS}
    document["recorded_at"] = canonical_time(document["recorded_at"])
    return _canonical_encoder.encode(document)


def parse_export(lines: list[bytes]) -> Rows:
    rows = Rows()
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = _line_decoder.decode(line)
            position, stored_hash = doc["position"], doc["hash"]
            if not isinstance(position, int) or not isinstance(stored_hash, str):
                raise TypeError("position or hash has the wrong type")
            canonical = canonical_of_recorded(doc)
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as error:
            rows.error = MalformedRow(f"not a recorded event: {error}")
            return rows
        rows.positions.append(position)
        rows.canonicals.append(canonical)
        rows.stored_hex.append(stored_hash.encode())
    return rows
