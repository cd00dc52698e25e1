"""Stored events as PostgreSQL renders them for auditing, and their canonical bytes.

The auditor's readers (``audit verify``, the TreeBuilder) fetch rows with ``COPY ... TO
STDOUT`` in text format: one line per event, fields separated by tabs, integers in plain
decimal, ``data`` and ``metadata`` as jsonb text, ``recorded_at`` rendered by PostgreSQL
in the canonical spelling (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, UTC, six digits) and the
stored hash as lower-case hex. COPY is several times faster than fetching records.

The canonical bytes rebuilt here are exactly ``proto.canonical.canonical_bytes`` of the
row: ``data`` and ``metadata`` are decoded to builtins and re-encoded with keys sorted
(jsonb keeps a key order of its own, never the canonical one), and the fixed top-level
keys are joined in their sorted order. Unit tests hold it byte for byte to proto.canonical.
``parse_rows`` is the hot loop of ``audit verify``: everything in it is inlined, since
a function call per field costs as much as the hashing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

# The settings of proto.canonical's encoder: keys sorted at every depth, no whitespace.
_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()

# Column order of every audit read; the field indexes below follow it.
AUDIT_COLUMNS = (
    "position, event_id, stream, stream_version, type, schema_version, data, metadata,"
    " to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " encode(hash, 'hex')"
)
FIELD_COUNT = 10

# The escapes COPY TO emits in text format (PostgreSQL docs, COPY, "File Formats").
_COPY_ESCAPES = {
    b"\\": b"\\",
    b"t": b"\t",
    b"n": b"\n",
    b"r": b"\r",
    b"b": b"\b",
    b"f": b"\f",
    b"v": b"\v",
}
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)


class MalformedRow(ValueError):
    """Input that is not one audit row: a wrong query, a truncated stream, a bad export line."""


@dataclass(slots=True)
class Rows:
    """Consecutive rows, ready for a chain walk; ``error`` stops the batch after the last one."""

    positions: list[int] = field(default_factory=list)
    canonicals: list[bytes] = field(default_factory=list)
    stored_hex: list[bytes] = field(default_factory=list)  # lower-case ASCII hex
    error: MalformedRow | None = None

    def __len__(self) -> int:
        return len(self.positions)


def _unescape(value: bytes) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        try:
            return _COPY_ESCAPES[match.group(1)]
        except KeyError:
            raise MalformedRow(f"unexpected COPY escape {match.group(0)!r}") from None

    return _COPY_ESCAPE.sub(replace, value)


def parse_rows(lines: list[bytes]) -> Rows:
    """Positions, canonical bytes and stored hashes of COPY lines (see the module doc)."""
    rows = Rows()
    positions, canonicals, stored_hex = rows.positions, rows.canonicals, rows.stored_hex
    encode, decode, join = _encoder.encode, _decoder.decode, b"".join
    for line in lines:
        fields = line.split(b"\t")
        # JSON escapes (\" \\ \n) reach COPY as backslashes, which it doubles; most rows
        # have none, so the regex runs only where it must.
        try:
            if b"\\" in line:
                fields = [_unescape(value) if b"\\" in value else value for value in fields]
            if len(fields) != FIELD_COUNT:
                raise MalformedRow(f"an audit row has {FIELD_COUNT} fields, got {len(fields)}")
            canonical = join(
                (
                    b'{"data":',
                    encode(decode(fields[6])),
                    b',"event_id":"',
                    fields[1],  # PostgreSQL's uuid output: lower-case, hyphenated
                    b'","metadata":',
                    encode(decode(fields[7])),
                    b',"position":',
                    fields[0],  # bigint and integer output are plain JSON integers
                    b',"recorded_at":"',
                    fields[8],
                    b'","schema_version":',
                    fields[5],
                    b',"stream":',
                    encode(fields[2].decode()),
                    b',"stream_version":',
                    fields[3],
                    b',"type":',
                    encode(fields[4].decode()),
                    b"}",
                )
            )
            position = int(fields[0])
        except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as error:
            rows.error = error if isinstance(error, MalformedRow) else MalformedRow(str(error))
            return rows
        positions.append(position)
        canonicals.append(canonical)
        stored_hex.append(fields[9])
    return rows


class LineSplitter:
    """Cuts a stream of chunks into whole lines (a chunk may end in the middle of one)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = (self._rest + chunk if self._rest else chunk).split(b"\n")
        self._rest = lines.pop()
        return lines

    def finish(self) -> bytes:
        """What is left after the last newline (empty for a well-formed stream)."""
        rest, self._rest = self._rest, b""
        return rest
