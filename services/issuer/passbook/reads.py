"""What the passbook page reads, each with the learner's own link as their key: their bank
and progress from the projector, their stream and links from the ledger. Each service
scopes the answer to the learner, as for any other caller; nothing here widens it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PAGE = 1000
STREAM_PAGES_MAX = 20  # a learner's whole history, within reason


class PassbookUnavailable(Exception):
    """The ledger or the projector cannot answer now."""


class LinkRefused(Exception):
    """A service no longer takes the learner's link (it ended or was revoked since the
    issuer last asked the ledger who it is)."""


class PassbookReads:
    def __init__(self, ledger_url: str, projector_url: str, timeout_s: float = 10.0) -> None:
        self._ledger = httpx.AsyncClient(base_url=ledger_url, timeout=timeout_s)
        self._projector = httpx.AsyncClient(base_url=projector_url, timeout=timeout_s)

    async def close(self) -> None:
        await self._ledger.aclose()
        await self._projector.aclose()

    async def bank(self, token: str, learner_id: str) -> dict[str, Any] | None:
        """The learner's bank and progress; None before the projector holds any event."""
        response = await self._get(self._projector, f"/v1/learners/{learner_id}/credit-bank", token)
        if response.status_code == 404:
            return None
        bank: dict[str, Any] = _json(response)
        return bank

    async def stream(self, token: str, learner_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        for _ in range(STREAM_PAGES_MAX):
            response = await self._get(
                self._ledger,
                f"/v1/streams/learner-{learner_id}",
                token,
                params={"after_version": after, "limit": PAGE},
            )
            page = _json(response)
            events.extend(page["events"])
            if len(page["events"]) < PAGE:
                break
            after = page["next_after_version"]
        return events

    async def links(self, token: str, learner_id: str) -> list[dict[str, Any]]:
        response = await self._get(self._ledger, f"/v1/learners/{learner_id}/passbook-links", token)
        found: list[dict[str, Any]] = _json(response)
        return found

    async def inclusion_bundle(self, token: str, learner_id: str) -> bytes | None:
        """The ledger's proof that the learner's latest signed event is in the log (JSON, as
        the ledger wrote it); None while no signed head covers an event of theirs."""
        response = await self._get(
            self._ledger, f"/v1/learners/{learner_id}/inclusion-proof", token
        )
        if response.status_code == 404:
            return None
        _json(response)
        return response.content

    @property
    def ledger_url(self) -> str:
        return str(self._ledger.base_url).rstrip("/")

    async def institutions(self, token: str) -> list[dict[str, Any]]:
        """Every registered institution (employers among them): whom a grant may name."""
        found: list[dict[str, Any]] = _json(
            await self._get(self._ledger, "/v1/institutions", token)
        )
        return found

    async def record(self, token: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Appends one of the learner's own events (consent) as the learner; the ledger's
        status and answer (a refusal is the ledger's problem document)."""
        body = {"event_id": str(uuid.uuid4()), "event": event}
        try:
            response = await self._ledger.post("/v1/events", json=body, headers=_bearer(token))
        except httpx.HTTPError as exc:
            raise PassbookUnavailable(f"the ledger cannot be reached: {exc}") from exc
        if response.status_code == 401:
            raise LinkRefused("the ledger refused the link")
        if response.status_code >= 500:
            raise PassbookUnavailable(f"the ledger answered {response.status_code}")
        answer: dict[str, Any] = response.json()
        return response.status_code, answer

    async def revoke_link(self, token: str, link_id: str) -> None:
        try:
            response = await self._ledger.delete(
                f"/v1/passbook-links/{link_id}", headers=_bearer(token)
            )
        except httpx.HTTPError as exc:
            raise PassbookUnavailable(f"the ledger cannot be reached: {exc}") from exc
        if response.status_code == 401:
            raise LinkRefused("the ledger refused the link")
        if response.status_code not in (204, 404):
            raise PassbookUnavailable(f"the ledger answered {response.status_code}")

    async def _get(
        self, client: httpx.AsyncClient, path: str, token: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await client.get(path, headers=_bearer(token), **kwargs)
        except httpx.HTTPError as exc:
            raise PassbookUnavailable(f"{client.base_url} cannot be reached: {exc}") from exc
        if response.status_code == 401:
            raise LinkRefused(f"{client.base_url}{path} refused the link")
        if response.status_code >= 500 or response.status_code == 403:
            raise PassbookUnavailable(f"{client.base_url}{path} answered {response.status_code}")
        return response


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise PassbookUnavailable(f"{response.url} answered {response.status_code}")
    return response.json()
