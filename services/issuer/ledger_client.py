"""The issuer's view of the ledger: its public HTTP API (reads and appends), never its tables.

The ledger stays the only writer (docs/architecture.md §2): awards and revocations go through
POST /v1/events with the issuer role's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from proto import events as ev
from proto.envelope import Actor, AppendResult, RecordedEvent

PAGE_EVENTS_MAX = 1000
STREAM_PAGES_MAX = 100  # 100,000 events: far beyond any learner; a bound, not a target
TIMEOUT_S = 10.0
_JSON = {"Content-Type": "application/json"}


class StreamPage(msgspec.Struct, frozen=True):
    stream: str
    events: list[RecordedEvent]
    next_after_version: int


class LogPage(msgspec.Struct, frozen=True):
    events: list[RecordedEvent]
    next_after_position: int
    head_position: int


class _Problem(msgspec.Struct, frozen=True):
    status: int = 0
    code: str | None = None
    detail: str | None = None


_page_decoder = msgspec.json.Decoder(StreamPage)
_log_page_decoder = msgspec.json.Decoder(LogPage)
_result_decoder = msgspec.json.Decoder(AppendResult)
_results_decoder = msgspec.json.Decoder(list[AppendResult])
_actor_decoder = msgspec.json.Decoder(Actor)
_problem_decoder = msgspec.json.Decoder(_Problem)
_definitions_decoder = msgspec.json.Decoder(list[dict[str, Any]])


class LedgerError(Exception):
    """The ledger refused or could not answer; ``transient`` says whether a retry may help."""

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


def _error(response: httpx.Response) -> LedgerError:
    try:
        problem = _problem_decoder.decode(response.content)
        code, detail = problem.code or f"http_{response.status_code}", problem.detail or ""
    except msgspec.DecodeError:
        code, detail = f"http_{response.status_code}", response.text[:500]
    kind = LedgerConflict if response.status_code == 409 else LedgerError
    return kind(response.status_code, code, detail)


class IssuerLedgerClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LedgerError(0, "unreachable", repr(exc)) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    async def stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        """Every event of ``stream`` after ``after_version``, in version order."""
        events: list[RecordedEvent] = []
        for _ in range(STREAM_PAGES_MAX):
            response = await self._request(
                "GET",
                f"/v1/streams/{stream}",
                params={"after_version": after_version, "limit": PAGE_EVENTS_MAX},
            )
            page = _page_decoder.decode(response.content)
            events.extend(page.events)
            if len(page.events) < PAGE_EVENTS_MAX:
                return events
            after_version = page.next_after_version
        raise LedgerError(0, "stream_too_long", f"{stream} has over {len(events)} events")

    async def log_page(self, after_position: int, limit: int, types: Sequence[str] = ()) -> LogPage:
        """One page of GET /v1/log: events after ``after_position`` (only of ``types`` when
        given; the page then ends at the head, see ``next_after_position``)."""
        params: list[tuple[str, str | int]] = [
            ("after_position", after_position),
            ("limit", min(limit, PAGE_EVENTS_MAX)),
            *(("type", t) for t in types),
        ]
        response = await self._request("GET", "/v1/log", params=params)
        return _log_page_decoder.decode(response.content)

    async def append(
        self,
        event: ev.Event,
        event_id: str,
        expected_version: int,
        causation_id: str | None = None,
    ) -> AppendResult:
        body = _item(event, event_id, expected_version, causation_id)
        response = await self._request(
            "POST", "/v1/events", content=msgspec.json.encode(body), headers=_JSON
        )
        return _result_decoder.decode(response.content)

    async def append_batch(
        self, items: Sequence[tuple[ev.Event, str, int]], causation_id: str | None = None
    ) -> list[AppendResult]:
        """Append (event, event id, expected version) items atomically: all or none."""
        body = {"events": [_item(e, i, v, causation_id) for e, i, v in items]}
        response = await self._request(
            "POST", "/v1/events/batch", content=msgspec.json.encode(body), headers=_JSON
        )
        return _results_decoder.decode(response.content)

    async def definitions(self, kind: str) -> list[dict[str, Any]]:
        """The current catalog: ``micro-credentials`` or ``qualifications``."""
        if kind not in ("micro-credentials", "qualifications"):
            raise ValueError(f"no catalog of {kind}")
        response = await self._request("GET", f"/v1/catalog/{kind}")
        return _definitions_decoder.decode(response.content)

    async def whoami(self, token: str) -> Actor | None:
        try:
            response = await self._http.get(
                "/v1/whoami", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise LedgerError(0, "unreachable", repr(exc)) from exc
        if response.status_code in (401, 403):
            return None
        if response.status_code >= 400:
            raise _error(response)
        return _actor_decoder.decode(response.content)


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
