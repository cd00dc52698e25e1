"""The auditor's fast canonicalisation (COPY rows, export lines) is proto.canonical, byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.canonical import canonical_bytes, format_recorded_at
from services.ledger.audit.export_rows import parse_export
from services.ledger.audit.stored_rows import LineSplitter, Rows, parse_rows

_COPY_TEXT_ESCAPES = {
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def copy_text(value: str) -> str:
    """A field as PostgreSQL's COPY TO writes it in text format (other controls stay raw)."""
    return "".join(_COPY_TEXT_ESCAPES.get(char, char) for char in value)


def jsonb_text(value: Any) -> str:
    """JSON as jsonb::text might render it: spaced, keys in an order of its own."""
    if isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda item: (len(item[0]), item[0]))
        inner = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {jsonb_text(v)}" for k, v in ordered
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def copy_line(event: dict[str, Any], stored_hash: bytes = bytes(32)) -> bytes:
    fields = [
        str(event["position"]),
        event["event_id"],
        event["stream"],
        str(event["stream_version"]),
        event["type"],
        str(event["schema_version"]),
        jsonb_text(event["data"]),
        jsonb_text(event["metadata"]),
        format_recorded_at(event["recorded_at"]),
        stored_hash.hex(),
    ]
    return "\t".join(copy_text(f) for f in fields).encode()


def reference(event: dict[str, Any]) -> bytes:
    return canonical_bytes(**event)


def canonical_of_copy(line: bytes) -> bytes:
    rows = parse_rows([line])
    assert rows.error is None, rows.error
    [canonical] = rows.canonicals
    return canonical


def parsed(rows: Rows) -> list[tuple[int, bytes, bytes]]:
    assert rows.error is None, rows.error
    return list(zip(rows.positions, rows.canonicals, rows.stored_hex, strict=True))


def example_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "position": 42,
        "event_id": str(uuid.UUID(int=42)),
        "stream": "learner-123456789012",
        "stream_version": 3,
        "type": "AssessmentPassed",
        "schema_version": 1,
        "data": {
            "type": "AssessmentPassed",
            "assessment_id": "ASMT-1",
            "learner_id": "123456789012",
            "catalog_snapshot": {"version": 1, "level": "4.5", "notional_hours": 60},
            "passes": [{"institution_id": "NSTI", "assessment_id": "A"}],
        },
        "metadata": {"actor": {"role": "institution", "key_id": "k"}, "correlation_id": None},
        "recorded_at": dt.datetime(2026, 11, 29, 10, 0, 0, 120000, tzinfo=dt.UTC),
    }
    event.update(changes)
    return event


AWKWARD_TEXT = [
    "plain",
    'quote " and back \\ slash',
    "tab\tnew\nline\rreturn",
    "\x01\x08\x0b\x0c\x1f",
    "é ñ देवनागरी 🎓",
    "\u2028\u2029",
    "\\N",
    "",
]


@pytest.mark.parametrize("text", AWKWARD_TEXT)
def test_a_copy_row_with_awkward_text_canonicalises_like_proto(text: str) -> None:
    event = example_event(
        stream=f"institution-{text}",
        type=f"Type{text}",
        data={"type": "X", "reason": text, text: [text, {"k": text}]},
        metadata={"actor": {"role": "admin", "key_id": text}, "request_id": text},
    )
    assert canonical_of_copy(copy_line(event)) == reference(event)


def test_a_time_on_the_whole_second_keeps_six_fraction_digits() -> None:
    event = example_event(recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert canonical_of_copy(copy_line(event)) == reference(event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(st.text(), json_values, max_size=6),
    metadata=st.dictionaries(st.text(), json_values, max_size=4),
    stream=st.text(min_size=1),
    position=st.integers(1, 2**62),
    microsecond=st.integers(0, 999_999),
)
def test_any_json_content_canonicalises_like_proto(
    data: dict[str, Any], metadata: dict[str, Any], stream: str, position: int, microsecond: int
) -> None:
    event = example_event(
        data=data,
        metadata=metadata,
        stream=stream,
        position=position,
        recorded_at=dt.datetime(2026, 3, 1, 8, 30, 5, microsecond, tzinfo=dt.UTC),
    )
    assert canonical_of_copy(copy_line(event)) == reference(event)
    export = {**event, "recorded_at": event["recorded_at"], "hash": "ab" * 32}
    rows = parse_export([msgspec.json.encode(export)])
    assert parsed(rows) == [(position, reference(event), b"ab" * 32)]


def test_entries_carry_position_canonical_bytes_and_stored_hash() -> None:
    event = example_event()
    digest = bytes(range(32))
    rows = parse_rows([copy_line(event, digest), copy_line({**event, "position": 43})])
    assert parsed(rows) == [
        (42, reference(event), digest.hex().encode()),
        (43, reference({**event, "position": 43}), bytes(32).hex().encode()),
    ]


def test_a_line_cut_across_chunks_is_joined_again() -> None:
    lines = LineSplitter()
    assert lines.feed(b"first\tli") == []
    assert lines.feed(b"ne\nsecond\nthi") == [b"first\tline", b"second"]
    assert lines.finish() == b"thi"
    assert lines.finish() == b""


def test_a_row_of_the_wrong_shape_stops_the_batch_after_the_rows_before_it() -> None:
    event = example_event()
    broken = copy_line({**event, "position": 43}).replace(b'{"type"', b'{"type', 1)
    rows = parse_rows([copy_line(event), broken, copy_line({**event, "position": 44})])
    assert rows.positions == [42]
    assert rows.error is not None
    rows = parse_rows([b"1\t2\t3"])
    assert rows.positions == []
    assert "10 fields" in str(rows.error)


@pytest.mark.parametrize(
    "line",
    [b"not json", b"{}", b'{"position": "1", "hash": "00"}', b"[1, 2]"],
)
def test_an_export_line_that_is_not_a_recorded_event_is_refused(line: bytes) -> None:
    rows = parse_export([line])
    assert rows.positions == []
    assert rows.error is not None
