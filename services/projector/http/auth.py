"""Callers present the same API keys as to the ledger; the ledger says who they are.

The projector never reads the ledger's tables (DESIGN §2): it asks GET /v1/whoami and
caches the answer briefly.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from proto.envelope import Actor
from services.projector.ledger_client import LedgerClient

CACHE_ENTRIES_MAX = 10_000


class KeyCache:
    def __init__(self, ledger: LedgerClient, ttl_s: float) -> None:
        self._ledger = ledger
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[Actor | None, float]] = {}

    async def actor(self, token: str) -> Actor | None:
        cached = self._entries.get(token)
        if cached is not None and time.monotonic() - cached[1] <= self._ttl_s:
            return cached[0]
        actor = await self._ledger.whoami(token)
        if len(self._entries) >= CACHE_ENTRIES_MAX:
            self._entries.clear()
        self._entries[token] = (actor, time.monotonic())
        return actor


class LedgerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
        actor = await connection.app.state.runtime.keys.actor(token.strip())
        if actor is None:
            raise NotAuthorizedException("the API key is unknown, malformed or revoked")
        return AuthenticationResult(user=actor, auth=actor.key_id)


def ledger_key_auth() -> DefineMiddleware:
    return DefineMiddleware(
        LedgerKeyMiddleware, exclude=[r"^/health", r"^/ready", r"^/metrics", r"^/schema"]
    )
