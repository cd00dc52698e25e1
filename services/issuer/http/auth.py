"""Callers present the API keys they use with the ledger; the ledger says who they are.

The issuer never reads the ledger's tables (DESIGN §2): it asks GET /v1/whoami and caches
the answer briefly. Only the learner-facing reads need a key; key material, status lists
and verification are public (DESIGN §6).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from proto.envelope import Actor, Role
from services.issuer.ledger_client import IssuerLedgerClient

CACHE_ENTRIES_MAX = 10_000
TOKEN_MAX_CHARS = 512


class KeyCache:
    def __init__(self, ledger: IssuerLedgerClient, ttl_s: float) -> None:
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
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > TOKEN_MAX_CHARS:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
        actor = await connection.app.state.runtime.keys_cache.actor(token)
        if actor is None:
            raise NotAuthorizedException("the API key is unknown, malformed or revoked")
        return AuthenticationResult(user=actor, auth=actor.key_id)


def ledger_key_auth() -> DefineMiddleware:
    return DefineMiddleware(LedgerKeyMiddleware)


def requires(*roles: Role) -> Any:
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor: Actor = connection.user
        if actor.role not in allowed:
            names = ", ".join(sorted(str(r) for r in allowed))
            raise PermissionDeniedException(
                f"this needs the role {names}; the key has {actor.role}"
            )

    return guard
