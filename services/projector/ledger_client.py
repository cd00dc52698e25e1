"""The projector's view of the ledger: its public read API over HTTP (never its tables)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec

from proto.envelope import Actor, LedgerHead, RecordedEvent

PAGE_EVENTS_MAX = 1000
TIMEOUT_S = 30.0


class LogPage(msgspec.Struct, frozen=True):
    events: list[RecordedEvent]
    next_after_position: int
    head_position: int


_page_decoder = msgspec.json.Decoder(LogPage)
_event_decoder = msgspec.json.Decoder(RecordedEvent)
_head_decoder = msgspec.json.Decoder(LedgerHead)
_actor_decoder = msgspec.json.Decoder(Actor)


class LedgerClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(TIMEOUT_S),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def head(self) -> int:
        response = await self._http.get("/v1/head")
        response.raise_for_status()
        return _head_decoder.decode(response.content).position

    async def read_range(self, after: int, up_to: int) -> list[RecordedEvent]:
        """Every event with after < position <= up_to, in order (fills a gap NATS left)."""
        events: list[RecordedEvent] = []
        while after < up_to:
            limit = min(PAGE_EVENTS_MAX, up_to - after)
            response = await self._http.get(
                "/v1/log", params={"after_position": after, "limit": limit}
            )
            response.raise_for_status()
            page = _page_decoder.decode(response.content)
            if not page.events:
                raise RuntimeError(
                    f"the ledger has no event after position {after} (head {page.head_position})"
                )
            events.extend(page.events)
            after = page.events[-1].position
        return events

    async def stream(self, after: int) -> AsyncIterator[RecordedEvent]:
        """The whole log after ``after`` as NDJSON (for rebuilds)."""
        async with self._http.stream(
            "GET", "/v1/log/ndjson", params={"after_position": after}
        ) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line:
                    yield _event_decoder.decode(line)

    async def whoami(self, token: str) -> Actor | None:
        response = await self._http.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        if response.status_code in (401, 403):
            return None
        response.raise_for_status()
        return _actor_decoder.decode(response.content)
