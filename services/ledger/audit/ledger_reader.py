"""An auditor's view of the ledger: its public read API over HTTP, with an auditor key.

Only documented endpoints: the head, the log by position, streams by name and the catalog
listings. Every request has a timeout; every list is read in bounded pages.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec

from proto.envelope import LedgerHead, RecordedEvent

PAGE_EVENTS_MAX = 1000
TIMEOUT_S = 30.0
CONCURRENT_REQUESTS_MAX = 8
STREAM_EVENTS_MAX = 1_000_000  # a stream longer than this is refused rather than read


class LogPage(msgspec.Struct, frozen=True):
    events: list[RecordedEvent]
    next_after_position: int
    head_position: int


class StreamPage(msgspec.Struct, frozen=True):
    stream: str
    events: list[RecordedEvent]
    next_after_version: int


_head_decoder = msgspec.json.Decoder(LedgerHead)
_log_decoder = msgspec.json.Decoder(LogPage)
_stream_decoder = msgspec.json.Decoder(StreamPage)
_definitions_decoder = msgspec.json.Decoder(list[dict[str, Any]])


class LedgerReadError(RuntimeError):
    """The ledger refused a read or could not be reached; the message says which."""


class LedgerReader:
    def __init__(self, base_url: str, api_key: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(TIMEOUT_S),
            limits=httpx.Limits(
                max_connections=CONCURRENT_REQUESTS_MAX,
                max_keepalive_connections=CONCURRENT_REQUESTS_MAX,
            ),
        )
        self._slots = asyncio.Semaphore(CONCURRENT_REQUESTS_MAX)

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, **params: Any) -> bytes:
        async with self._slots:
            try:
                response = await self._http.get(path, params=params)
            except httpx.HTTPError as error:
                raise LedgerReadError(f"GET {path}: {error!r}") from error
        if response.status_code != 200:
            raise LedgerReadError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.content

    async def head(self) -> LedgerHead:
        return _head_decoder.decode(await self._get("/v1/head"))

    async def event_at(self, position: int) -> RecordedEvent | None:
        page = _log_decoder.decode(await self._get("/v1/log", after_position=position - 1, limit=1))
        return page.events[0] if page.events and page.events[0].position == position else None

    async def stream(self, name: str) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        after = 0
        while True:
            page = _stream_decoder.decode(
                await self._get(f"/v1/streams/{name}", after_version=after, limit=PAGE_EVENTS_MAX)
            )
            events.extend(page.events)
            if len(page.events) < PAGE_EVENTS_MAX:
                return events
            if len(events) >= STREAM_EVENTS_MAX:
                raise LedgerReadError(f"stream {name} has more than {STREAM_EVENTS_MAX} events")
            after = page.next_after_version

    async def codes(self, listing: str) -> list[str]:
        """Codes of the current catalog: ``qualifications`` or ``micro-credentials``."""
        definitions = _definitions_decoder.decode(await self._get(f"/v1/catalog/{listing}"))
        return [str(d["code"]) for d in definitions]
