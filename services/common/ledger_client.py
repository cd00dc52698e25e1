"""One client of the ledger's public read API, for every service that reads the log.

No service reads another's tables (docs/architecture.md §2): the projector fills gaps and
rebuilds, the issuer reads learners' streams and the catalog, and an auditor replays
learners, all through these documented endpoints, each with a timeout, a bound on
concurrent requests and bounded pages. Every failure is a ``LedgerError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from proto.envelope import Actor, LedgerHead, LogPage, RecordedEvent, StreamPage
from proto.partitions import Partition

PAGE_EVENTS_MAX = 1000
STREAM_EVENTS_MAX = 1_000_000  # a stream longer than this is refused rather than read
TIMEOUT_S = 30.0
CONCURRENT_REQUESTS_MAX = 8
NDJSON_CHUNK_BYTES = 256 * 1024  # decoded a chunk at a time when streaming the log
CATALOG_LISTINGS = ("micro-credentials", "qualifications")
T = TypeVar("T")


class RawRecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A log row as ``RecordedEvent``, but with ``data`` as the JSON the ledger sent."""

    position: int
    stream: str
    stream_version: int
    type: str
    data: msgspec.Raw
    recorded_at: dt.datetime


class _Problem(msgspec.Struct, frozen=True):
    status: int = 0
    code: str | None = None
    detail: str | None = None


_head_decoder = msgspec.json.Decoder(LedgerHead)
_log_decoder = msgspec.json.Decoder(LogPage)
_stream_decoder = msgspec.json.Decoder(StreamPage)
_event_decoder = msgspec.json.Decoder(RecordedEvent)
_raw_event_decoder = msgspec.json.Decoder(RawRecordedEvent)
_actor_decoder = msgspec.json.Decoder(Actor)
_problem_decoder = msgspec.json.Decoder(_Problem)
_definitions_decoder = msgspec.json.Decoder(list[dict[str, Any]])
_json_decoder = msgspec.json.Decoder(dict[str, Any])


class LedgerError(Exception):
    """The ledger refused or could not answer; ``transient`` says whether a retry may help.

    ``status`` is 0 when the ledger could not be reached at all.
    """

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"ledger answered {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def transient(self) -> bool:
        # Unreachable, busy, or a key problem an operator can fix: worth retrying.
        return self.status in (0, 401, 403, 408, 429) or self.status >= 500


class LedgerConflict(LedgerError):
    """409: wrong expected version, or an id reused with other content: re-read, re-decide."""


def ledger_error(response: httpx.Response) -> LedgerError:
    """The problem+json of a refused request, as the exception it stands for."""
    try:
        problem = _problem_decoder.decode(response.content)
        code, detail = problem.code or f"http_{response.status_code}", problem.detail or ""
    except msgspec.DecodeError:
        code, detail = f"http_{response.status_code}", response.text[:500]
    kind = LedgerConflict if response.status_code == 409 else LedgerError
    return kind(response.status_code, code, detail)


def unreachable(path: str, error: Exception) -> LedgerError:
    return LedgerError(0, "unreachable", f"{path}: {error!r}")


def _shorter_than_asked(after: int, head: int) -> LedgerError:
    return LedgerError(
        0, "log_shorter_than_asked", f"the ledger has no event after position {after} (head {head})"
    )


def whole_lines(tail: bytes, chunk: bytes) -> tuple[bytes, bytes]:
    """The whole lines of what a stream sent so far (``tail``, left over from the chunks
    before, then ``chunk``), and what is left of a line the next chunk continues: a stream
    of NDJSON is decoded a chunk of lines at a time, not a line at a time."""
    end = chunk.rfind(b"\n")
    if end < 0:
        return b"", tail + chunk
    return tail + chunk[: end + 1], chunk[end + 1 :]


def _partition_params(partition: Partition | None) -> dict[str, int]:
    if partition is None:
        return {}
    return {"partition": partition.index, "of": partition.count}


class LedgerClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = TIMEOUT_S,
        concurrent_requests_max: int = CONCURRENT_REQUESTS_MAX,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=concurrent_requests_max,
                max_keepalive_connections=concurrent_requests_max,
            ),
        )
        self._slots = asyncio.Semaphore(concurrent_requests_max)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 4xx or 5xx answer raises its ``LedgerError``."""
        async with self._slots:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise unreachable(path, exc) from exc
        if response.status_code >= 400:
            raise ledger_error(response)
        return response

    async def head(self) -> LedgerHead:
        return _head_decoder.decode((await self.request("GET", "/v1/head")).content)

    async def log_page(
        self,
        after_position: int,
        limit: int,
        types: Sequence[str] = (),
        partition: Partition | None = None,
    ) -> LogPage:
        """One page of GET /v1/log: events after ``after_position`` (only of ``types`` and of
        ``partition`` when given; the page then ends at the head, see ``next_after_position``)."""
        params: list[tuple[str, str | int]] = [
            ("after_position", after_position),
            ("limit", min(limit, PAGE_EVENTS_MAX)),
            *(("type", t) for t in types),
            *_partition_params(partition).items(),
        ]
        response = await self.request("GET", "/v1/log", params=params)
        return _log_decoder.decode(response.content)

    async def event_at(self, position: int) -> RecordedEvent | None:
        page = await self.log_page(position - 1, 1)
        return page.events[0] if page.events and page.events[0].position == position else None

    async def read_range(
        self, after: int, up_to: int, partition: Partition | None = None
    ) -> list[RecordedEvent]:
        """Every event with after < position <= up_to, in order (fills a gap NATS left).

        With ``partition``, only that partition's events: positions then have gaps, and the
        ledger's watermark (``next_after_position``) says how far each page looked.
        """
        if partition is not None:
            return await self._read_partition_range(after, up_to, partition)
        events: list[RecordedEvent] = []
        while after < up_to:
            page = await self.log_page(after, min(PAGE_EVENTS_MAX, up_to - after))
            if not page.events:
                raise _shorter_than_asked(after, page.head_position)
            events.extend(page.events)
            after = page.events[-1].position
        return events

    async def _read_partition_range(
        self, after: int, up_to: int, partition: Partition
    ) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        while after < up_to:
            limit = min(PAGE_EVENTS_MAX, up_to - after)
            page = await self.log_page(after, limit, partition=partition)
            events.extend(e for e in page.events if e.position <= up_to)
            if page.next_after_position >= up_to:
                break
            if len(page.events) < limit:  # the page looked up to the head, short of up_to
                raise _shorter_than_asked(page.next_after_position, page.head_position)
            after = page.next_after_position
        return events

    def log_ndjson(
        self, after: int, partition: Partition | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """The whole log after ``after`` (only ``partition``'s events when given), streamed
        as NDJSON (for rebuilds)."""
        return self._ndjson(after, partition, _event_decoder)

    def log_ndjson_raw(
        self, after: int, partition: Partition | None = None
    ) -> AsyncIterator[RawRecordedEvent]:
        """The same, each event's data left as its JSON (a reader that stores it as it is
        saves decoding and encoding it again)."""
        return self._ndjson(after, partition, _raw_event_decoder)

    async def _ndjson(
        self, after: int, partition: Partition | None, decoder: msgspec.json.Decoder[T]
    ) -> AsyncIterator[T]:
        async for batch in self._ndjson_batches(after, partition, decoder):
            for item in batch:
                yield item

    def log_ndjson_raw_batches(
        self, after: int, partition: Partition | None = None
    ) -> AsyncIterator[list[RawRecordedEvent]]:
        """``log_ndjson_raw`` as the lists of events each chunk of the answer held (a
        reader that handles events in bulk saves a resumption per event)."""
        return self._ndjson_batches(after, partition, _raw_event_decoder)

    async def _ndjson_batches(
        self, after: int, partition: Partition | None, decoder: msgspec.json.Decoder[T]
    ) -> AsyncIterator[list[T]]:
        path = "/v1/log/ndjson"
        params = {"after_position": after, **_partition_params(partition)}
        try:
            async with self._http.stream("GET", path, params=params) as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    raise ledger_error(answer)
                tail = b""
                async for chunk in answer.aiter_bytes(NDJSON_CHUNK_BYTES):
                    lines, tail = whole_lines(tail, chunk)
                    if lines and (batch := decoder.decode_lines(lines)):
                        yield batch
                if tail.strip():
                    yield decoder.decode_lines(tail)
        except httpx.HTTPError as exc:
            raise unreachable(path, exc) from exc

    async def stream(self, name: str, after_version: int = 0) -> list[RecordedEvent]:
        """Every event of stream ``name`` after ``after_version``, in version order."""
        events: list[RecordedEvent] = []
        while True:
            response = await self.request(
                "GET",
                f"/v1/streams/{name}",
                params={"after_version": after_version, "limit": PAGE_EVENTS_MAX},
            )
            page = _stream_decoder.decode(response.content)
            events.extend(page.events)
            if len(page.events) < PAGE_EVENTS_MAX:
                return events
            if len(events) >= STREAM_EVENTS_MAX:
                raise LedgerError(
                    0, "stream_too_long", f"{name} has more than {STREAM_EVENTS_MAX} events"
                )
            after_version = page.next_after_version

    async def definitions(self, listing: str) -> list[dict[str, Any]]:
        """The current catalog: ``micro-credentials`` or ``qualifications``."""
        if listing not in CATALOG_LISTINGS:
            raise ValueError(f"no catalog of {listing}")
        response = await self.request("GET", f"/v1/catalog/{listing}")
        return _definitions_decoder.decode(response.content)

    async def codes(self, listing: str) -> list[str]:
        """Codes of the current catalog's ``listing``."""
        return [str(d["code"]) for d in await self.definitions(listing)]

    async def institution_name(self, institution_id: str) -> str | None:
        """An institution's registered name; None when the ledger knows no such
        institution or cannot answer now (a page then shows the id)."""
        try:
            response = await self.request("GET", f"/v1/institutions/{quote(institution_id)}")
        except LedgerError:
            return None
        name = _json_decoder.decode(response.content).get("name")
        return str(name) if name else None

    async def whoami(self, token: str) -> Actor | None:
        """Who ``token`` is, or None when the ledger does not know it (or it is revoked)."""
        try:
            response = await self.request(
                "GET", "/v1/whoami", headers={"Authorization": f"Bearer {token}"}
            )
        except LedgerError as exc:
            if exc.status in (401, 403):
                return None
            raise
        return _actor_decoder.decode(response.content)
