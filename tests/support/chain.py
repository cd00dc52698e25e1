"""An independent re-implementation of the hash chain, as an auditor would write it.

Deliberately uses only the standard library (json, hashlib), not the production code
path (msgspec, proto.canonical), so a drift between the README's description and the
code would fail the tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical(event: dict[str, Any]) -> bytes:
    recorded_at = dt.datetime.fromisoformat(event["recorded_at"].replace("Z", "+00:00"))
    document = {
        "data": event["data"],
        "event_id": event["event_id"],
        "metadata": event["metadata"],
        "position": event["position"],
        "recorded_at": recorded_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "schema_version": event["schema_version"],
        "stream": event["stream"],
        "stream_version": event["stream_version"],
        "type": event["type"],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def first_mismatch(events: Iterable[dict[str, Any]]) -> int | None:
    """The first position whose hash does not follow from its predecessor, or None."""
    previous = bytes(32)
    for event in events:
        expected = hashlib.sha256(previous + canonical(event)).hexdigest()
        if expected != event["hash"]:
            return int(event["position"])
        previous = bytes.fromhex(event["hash"])
    return None
