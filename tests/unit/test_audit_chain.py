"""Walking the hash chain: a rewritten event is named, and so is a missing one."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from proto.canonical import GENESIS_HASH, canonical_bytes
from services.ledger.audit.chain import ChainWalk, LogGap
from services.ledger.audit.stored_rows import Rows
from services.ledger.audit.verify import Verifier, verify_export
from tests.support.chain import first_mismatch


def recorded_events(count: int) -> list[dict[str, Any]]:
    """A hash-chained log as GET /v1/log/ndjson exports it."""
    events, previous = [], GENESIS_HASH
    for position in range(1, count + 1):
        event: dict[str, Any] = {
            "position": position,
            "event_id": f"00000000-0000-4000-8000-{position:012d}",
            "stream": f"learner-{100000000000 + position % 3}",
            "stream_version": position,
            "type": "AssessmentRevoked",
            "schema_version": 1,
            "data": {"type": "AssessmentRevoked", "reason": f'review {position} "ok" \\'},
            "metadata": {"actor": {"role": "institution", "key_id": "k"}, "request_id": "r"},
            "recorded_at": dt.datetime(2026, 1, 1, 0, 0, position % 2, tzinfo=dt.UTC),
        }
        previous = hashlib.sha256(previous + canonical_bytes(**event)).digest()
        events.append({**event, "hash": previous.hex()})
    return events


def rows_of(events: list[dict[str, Any]]) -> Rows:
    return Rows(
        [e["position"] for e in events],
        [canonical_bytes(**{k: v for k, v in e.items() if k != "hash"}) for e in events],
        [e["hash"].encode() for e in events],
    )


def write_export(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    return path


def test_an_untouched_chain_walks_to_its_head() -> None:
    events = recorded_events(20)
    walk = ChainWalk()
    assert walk.until_mismatch(rows_of(events[:7])) is None
    assert walk.until_mismatch(rows_of(events[7:])) is None
    assert (walk.position, walk.recomputed.hex()) == (20, events[-1]["hash"])


def test_an_edited_event_is_named_and_its_heirs_inherit_the_divergence() -> None:
    events = recorded_events(10)
    events[3]["data"]["reason"] = "rewritten"
    hashes, found = ChainWalk().recompute(rows_of(events))
    assert [m.position for m in found] == list(range(4, 11))
    assert found[0].edited_here is True
    assert all(m.edited_here is False for m in found[1:])
    assert [h.hex() for h in hashes[:3]] == [e["hash"] for e in events[:3]]
    assert hashes[3].hex() == found[0].recomputed_hash
    # The auditor's independent re-implementation (standard library only) agrees.
    assert first_mismatch(msgspec.json.decode(msgspec.json.encode(events))) == 4


def test_the_first_mismatch_stops_a_walk_at_the_edited_event() -> None:
    events = recorded_events(10)
    events[3]["data"]["reason"] = "rewritten"
    walk = ChainWalk()
    assert walk.until_mismatch(rows_of(events[:2])) is None
    mismatch = walk.until_mismatch(rows_of(events[2:]))
    assert mismatch is not None
    assert (mismatch.position, mismatch.edited_here, walk.position) == (4, True, 4)


def test_an_edit_in_the_first_row_of_a_later_batch_is_still_placed() -> None:
    events = recorded_events(6)
    events[3]["data"]["reason"] = "rewritten"
    walk = ChainWalk()
    walk.recompute(rows_of(events[:3]))
    _, found = walk.recompute(rows_of(events[3:]))
    assert [(m.position, m.edited_here) for m in found] == [(4, True), (5, False), (6, False)]


def test_a_missing_position_stops_the_walk() -> None:
    events = recorded_events(3)
    walk = ChainWalk()
    with pytest.raises(LogGap, match="from position 1 to 3"):
        walk.until_mismatch(rows_of([events[0], events[2]]))
    assert walk.position == 1
    with pytest.raises(LogGap):
        ChainWalk().recompute(rows_of(events[1:]))


def test_a_walk_resumes_from_a_recomputed_hash() -> None:
    events = recorded_events(6)
    walk = ChainWalk(3, bytes.fromhex(events[2]["hash"]), events[2]["hash"].encode())
    assert walk.until_mismatch(rows_of(events[3:])) is None
    assert walk.position == 6


def test_the_verifier_names_the_first_bad_position_and_what_matched_before() -> None:
    events = recorded_events(8)
    events[4]["hash"] = "00" * 32
    verifier = Verifier()
    verifier.feed(rows_of(events))
    result = verifier.result()
    assert result.finding is not None
    assert (result.finding.position, result.matched, result.head_hash) == (5, 4, None)
    assert "this event's content or hash was changed" in result.finding.reason


def test_an_export_verifies_to_its_head(tmp_path: Path) -> None:
    events = recorded_events(50)
    counted: list[int] = []
    result = verify_export(write_export(tmp_path / "log.ndjson", events), progress=counted.append)
    assert result.ok
    assert (result.matched, result.head_hash, sum(counted)) == (50, events[-1]["hash"], 50)


def test_an_export_with_a_rewritten_event_names_it(tmp_path: Path) -> None:
    events = recorded_events(30)
    events[16]["data"]["reason"] = "rewritten"
    result = verify_export(write_export(tmp_path / "log.ndjson", events))
    assert result.finding is not None
    assert result.finding.position == 17
    assert result.matched == 16


def test_an_export_with_a_hole_names_the_missing_position(tmp_path: Path) -> None:
    events = recorded_events(5)
    del events[2]
    result = verify_export(write_export(tmp_path / "log.ndjson", events))
    assert result.finding is not None
    assert result.finding.position == 3
    assert "missing" in result.finding.reason


def test_an_export_with_a_garbled_line_names_where_it_stops(tmp_path: Path) -> None:
    path = write_export(tmp_path / "log.ndjson", recorded_events(4))
    path.write_bytes(path.read_bytes() + b'{"position": 5, "hash": \n')
    result = verify_export(path)
    assert result.finding is not None
    assert result.finding.position == 5
    assert result.matched == 4


def test_an_export_without_a_final_newline_still_verifies(tmp_path: Path) -> None:
    path = write_export(tmp_path / "log.ndjson", recorded_events(3))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert verify_export(path).matched == 3
