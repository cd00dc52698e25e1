"""The production canonical encoding equals an auditor's standard-library re-implementation."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from proto.canonical import GENESIS_HASH, canonical_bytes, chain_hash, format_recorded_at
from tests.support.chain import canonical as auditor_canonical
from tests.support.chain import first_mismatch


def _event(position: int, text: str) -> dict[str, Any]:
    return {
        "position": position,
        "event_id": f"00000000-0000-4000-8000-{position:012d}",
        "stream": "learner-123456789012",
        "stream_version": position,
        "type": "AssessmentRevoked",
        "schema_version": 1,
        "data": {
            "type": "AssessmentRevoked",
            "reason": text,
            "nested": {"z": [1, {"b": None, "a": True}]},
        },
        "metadata": {
            "actor": {"role": "institution", "key_id": "k", "institution_id": "X"},
            "request_id": "r",
        },
        "recorded_at": "2026-11-29T10:00:00Z",
    }


def _production(event: dict[str, Any]) -> bytes:
    recorded_at = dt.datetime.fromisoformat(event["recorded_at"].replace("Z", "+00:00"))
    return canonical_bytes(
        position=event["position"],
        event_id=event["event_id"],
        stream=event["stream"],
        stream_version=event["stream_version"],
        type=event["type"],
        schema_version=event["schema_version"],
        data=event["data"],
        metadata=event["metadata"],
        recorded_at=recorded_at,
    )


def test_both_encodings_agree_on_awkward_text() -> None:
    for text in [
        "plain",
        "é ñ ü",
        "देवनागरी",
        "tab\tnew\nline",
        'quote " back \\',
        "\x01\x1f",
        "\u2028",
        "emoji 🎓",
    ]:
        event = _event(1, text)
        assert _production(event) == auditor_canonical(event), text


def test_recorded_at_always_has_six_fraction_digits() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert format_recorded_at(moment) == "2026-01-02T03:04:05.000000Z"
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert (
        format_recorded_at(dt.datetime(2026, 1, 2, 8, 34, 5, 7, tzinfo=ist))
        == "2026-01-02T03:04:05.000007Z"
    )


def test_a_chain_built_by_the_code_verifies_independently_and_an_edit_is_found() -> None:
    events = [_event(n, f"reason {n}") for n in range(1, 6)]
    previous = GENESIS_HASH
    for event in events:
        previous = chain_hash(previous, _production(event))
        event["hash"] = previous.hex()
    assert first_mismatch(events) is None
    events[2]["data"]["reason"] = "edited"
    assert first_mismatch(events) == 3


def test_genesis_is_thirty_two_zero_bytes_and_the_hash_is_sha256() -> None:
    assert bytes(32) == GENESIS_HASH
    assert chain_hash(GENESIS_HASH, b"x") == hashlib.sha256(bytes(32) + b"x").digest()


def test_an_event_struct_encodes_as_its_builtins() -> None:
    """The group commit encodes each event Struct directly; auditors re-encode the stored
    JSON's builtins. Both must give the same canonical bytes, for every event type."""
    import msgspec

    from credit_ledger.demo_catalog import demo_events
    from proto import events as ev
    from proto.canonical import canonical_json

    passed = ev.AssessmentPassed(
        assessment_id="A-1",
        learner_id="123456789012",
        institution_id="NSTI-CHENNAI",
        micro_credential_code="CNC-FUND",
        mode=ev.AssessmentMode.RPL,
        assessed_on=dt.date(2026, 1, 15),
        catalog_snapshot=ev.CatalogSnapshot(
            version=2, level="4", notional_hours=30, sector="CAP", validity_years=3
        ),
    )
    for event in [*(e for _, e in demo_events()), passed]:
        assert canonical_json(event) == canonical_json(msgspec.to_builtins(event))
