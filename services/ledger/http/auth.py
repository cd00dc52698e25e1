"""Bearer-key authentication against the ledger's own keys (docs/architecture.md §6); the role guards
are the platform's (``services.common.http.auth``)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from services.common.http.auth import PUBLIC_PATHS
from services.ledger.passbook_links import TOKEN_PREFIX as PASSBOOK_TOKEN_PREFIX


class BearerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
        runtime = connection.app.state.runtime
        token = token.strip()
        if token.startswith(PASSBOOK_TOKEN_PREFIX):
            actor = await runtime.passbook_links.authenticate(token)
        else:
            actor = await runtime.authenticator.authenticate(token)
        if actor is None:
            raise NotAuthorizedException(
                "the API key (or passbook link) is unknown, malformed, expired or revoked"
            )
        return AuthenticationResult(user=actor, auth=actor.key_id)


# The upload page authenticates by its own session cookie (services/ledger/upload).
UPLOAD_PAGE_PATHS = [r"^/upload"]


def bearer_auth() -> DefineMiddleware:
    return DefineMiddleware(BearerKeyMiddleware, exclude=[*PUBLIC_PATHS, *UPLOAD_PAGE_PATHS])
