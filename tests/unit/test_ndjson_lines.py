"""Streaming NDJSON a chunk at a time: a line split across chunks is decoded once, whole."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from services.common.ledger_client import whole_lines

_decoder = msgspec.json.Decoder(dict[str, int])


def decoded(chunks: list[bytes]) -> list[dict[str, int]]:
    """What the client yields for a stream arriving in ``chunks``."""
    found: list[dict[str, int]] = []
    tail = b""
    for chunk in chunks:
        lines, tail = whole_lines(tail, chunk)
        found.extend(_decoder.decode_lines(lines))
    if tail.strip():
        found.extend(_decoder.decode_lines(tail))
    return found


def test_a_line_cut_by_a_chunk_waits_for_the_rest() -> None:
    assert whole_lines(b"", b'{"a":1}\n{"b"') == (b'{"a":1}\n', b'{"b"')
    assert whole_lines(b'{"b"', b":2}") == (b"", b'{"b":2}')
    assert whole_lines(b'{"b":2}', b"\n") == (b'{"b":2}\n', b"")


def test_a_stream_without_a_final_newline_still_gives_its_last_line() -> None:
    assert decoded([b'{"a":1}\n{"b', b'":2}']) == [{"a": 1}, {"b": 2}]


@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=40),
    st.lists(st.integers(1, 30), min_size=1, max_size=60),
)
def test_any_chunking_gives_every_line_once_in_order(values: list[int], cuts: list[int]) -> None:
    stream = b"".join(b'{"n":%d}\n' % v for v in values)
    chunks, start = [], 0
    for size in cuts * (len(stream) // max(sum(cuts), 1) + 1):
        if start >= len(stream):
            break
        chunks.append(stream[start : start + size])
        start += size
    assert decoded(chunks) == [{"n": v} for v in values]
