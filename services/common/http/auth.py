"""Who is calling, and may they: role guards for every service, and the authentication of
the projector and the issuer, whose callers present the API keys they use with the ledger;
the ledger says who they are.

No service reads another's tables (docs/architecture.md §2), so these services ask the ledger's
GET /v1/whoami and cache the answer briefly. The app's runtime exposes the cache as
``key_cache``.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from proto.envelope import Actor, Role
from services.common.cache import BoundedCache

CACHE_ENTRIES_MAX = 10_000
TOKEN_MAX_CHARS = 512
PUBLIC_PATHS = [r"^/$", r"^/health", r"^/ready", r"^/metrics", r"^/schema"]


class WhoAmI(Protocol):
    async def whoami(self, token: str) -> Actor | None: ...


class KeyCache:
    """The ledger's answer for each key, for ``ttl_s`` (an unknown key's too)."""

    def __init__(self, ledger: WhoAmI, ttl_s: float) -> None:
        self._ledger = ledger
        self._entries: BoundedCache[str, Actor | _Unknown] = BoundedCache(
            CACHE_ENTRIES_MAX, ttl_s=ttl_s
        )

    async def actor(self, token: str) -> Actor | None:
        cached = self._entries.get(token)
        if cached is not None:
            return None if isinstance(cached, _Unknown) else cached
        actor = await self._ledger.whoami(token)
        self._entries.put(token, _UNKNOWN if actor is None else actor)
        return actor


class _Unknown:
    """Cached for a key the ledger does not know (``None`` means not cached)."""


_UNKNOWN = _Unknown()


class LedgerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > TOKEN_MAX_CHARS:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
        cache: KeyCache = connection.app.state.runtime.key_cache
        actor = await cache.actor(token)
        if actor is None:
            raise NotAuthorizedException("the API key is unknown, malformed or revoked")
        return AuthenticationResult(user=actor, auth=actor.key_id)


def ledger_key_auth(exclude: list[str] | None = None) -> DefineMiddleware:
    return DefineMiddleware(LedgerKeyMiddleware, exclude=exclude)


class RoleGuard:
    """A guard admitting only the given roles. Its ``roles`` are public so that the OpenAPI
    documents and the authorization matrix can say who may call a route."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    # Async, so Litestar calls it inline instead of handing it to a thread.
    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        actor: Actor = connection.user
        if actor.role not in self.roles:
            names = ", ".join(sorted(str(r) for r in self.roles))
            raise PermissionDeniedException(
                f"this needs the role {names}; the key has {actor.role}"
            )


def requires(*roles: Role) -> RoleGuard:
    return RoleGuard(frozenset(roles))


ANY_ROLE = requires(*Role)
READ_ALL = requires(Role.ADMIN, Role.AUDITOR, Role.ISSUER)
