"""The issuer's view of the ledger: the platform's read client, plus appends.

The ledger stays the only writer (docs/architecture.md §2): awards and revocations go through
POST /v1/events with the issuer role's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from proto import events as ev
from proto.envelope import AppendResult
from services.common.ledger_client import LedgerClient

TIMEOUT_S = 10.0
CONCURRENT_REQUESTS_MAX = 16
_JSON = {"Content-Type": "application/json"}

_result_decoder = msgspec.json.Decoder(AppendResult)
_results_decoder = msgspec.json.Decoder(list[AppendResult])


class IssuerLedgerClient(LedgerClient):
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(
            base_url,
            api_key,
            timeout_s=timeout_s,
            concurrent_requests_max=CONCURRENT_REQUESTS_MAX,
        )

    async def append(
        self,
        event: ev.Event,
        event_id: str,
        expected_version: int,
        causation_id: str | None = None,
    ) -> AppendResult:
        body = _item(event, event_id, expected_version, causation_id)
        response = await self.request(
            "POST", "/v1/events", content=msgspec.json.encode(body), headers=_JSON
        )
        return _result_decoder.decode(response.content)

    async def append_batch(
        self, items: Sequence[tuple[ev.Event, str, int]], causation_id: str | None = None
    ) -> list[AppendResult]:
        """Append (event, event id, expected version) items atomically: all or none."""
        body = {"events": [_item(e, i, v, causation_id) for e, i, v in items]}
        response = await self.request(
            "POST", "/v1/events/batch", content=msgspec.json.encode(body), headers=_JSON
        )
        return _results_decoder.decode(response.content)


def _item(
    event: ev.Event, event_id: str, expected_version: int, causation_id: str | None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": event_id,
        "event": msgspec.to_builtins(event),
        "expected_version": expected_version,
    }
    if causation_id is not None:
        item["causation_id"] = causation_id[:128]
    return item
