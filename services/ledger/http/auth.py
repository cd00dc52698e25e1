"""Bearer-key authentication and role guards (DESIGN §6)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from proto.envelope import Actor, Role

# Public: credential verification, key material, health and the API description.
PUBLIC_PATHS = {"/health", "/ready", "/metrics", "/schema"}


class BearerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
        runtime = connection.app.state.runtime
        actor = await runtime.authenticator.authenticate(token.strip())
        if actor is None:
            raise NotAuthorizedException("the API key is unknown, malformed or revoked")
        return AuthenticationResult(user=actor, auth=actor.key_id)


def bearer_auth() -> DefineMiddleware:
    return DefineMiddleware(
        BearerKeyMiddleware, exclude=[r"^/health", r"^/ready", r"^/metrics", r"^/schema"]
    )


def requires(*roles: Role) -> Any:
    """A guard admitting only the given roles."""
    allowed = frozenset(roles)

    # Async, so Litestar calls it inline instead of handing it to a thread.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor: Actor = connection.user
        if actor.role not in allowed:
            names = ", ".join(sorted(str(r) for r in allowed))
            raise PermissionDeniedException(
                f"this needs the role {names}; the key has {actor.role}"
            )

    return guard


ANY_ROLE = requires(*Role)
READ_ALL = requires(Role.ADMIN, Role.AUDITOR, Role.ISSUER)
