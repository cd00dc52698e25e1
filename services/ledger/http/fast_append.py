"""``POST /v1/events`` answered without the framework when it can be, for the write path's CPU.

A single append is the ledger's most frequent request, and Litestar's routing, signature
model, guards and response machinery took about 40 % of an HTTP worker's CPU for it
(py-spy of bench.ledger_bench (b)). This layer, inside the request-id and access-log layer
and outside Litestar, handles the request itself when it is well formed and from a key
that may write: it authenticates with the same cached authenticator, decodes the body with
the same strict decoder, appends through the same store, and answers with the same
bodies (``AppendResult``, or the same problem+json for a refusal, a full queue or a key
over its fair share).

Everything else goes to Litestar, which stays the one definition of the route (and of its
OpenAPI document): no or a bad key, another role, a body over the limit or without a
length, malformed or invalid JSON. A body already read is handed on unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from proto.envelope import Role
from proto.http import append_request_decoder
from services.common.http.problems import PROBLEM_MEDIA_TYPE, Problem
from services.ledger.append import LedgerBusy
from services.ledger.errors import Refused
from services.ledger.fair_share import KeyOverShare
from services.ledger.http.events import candidate_of, log_appended
from services.ledger.http.problems import busy, over_share
from services.ledger.runtime import LedgerRuntime

PATH = "/v1/events"
WRITER_ROLES = frozenset({Role.INSTITUTION, Role.ISSUER, Role.ADMIN})
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", PROBLEM_MEDIA_TYPE.encode())]
_encoder = msgspec.json.Encoder()


def fast_append_layer(app: Litestar, framework: ASGIApp) -> ASGIApp:
    """``framework`` (the app's ASGI handler), with ``POST /v1/events`` answered here."""
    configured = app.request_max_body_size
    limit = configured if isinstance(configured, int) else None

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope["path"] != PATH
            or scope.get("method") != "POST"
            or not await _answered(app, limit, scope, receive, send, framework)
        ):
            await framework(scope, receive, send)

    return layer


async def _answered(
    app: Litestar,
    limit: int | None,
    scope: Scope,
    receive: Receive,
    send: Send,
    framework: ASGIApp,
) -> bool:
    """True when this layer answered; False to let the framework answer (nothing read)."""
    runtime: LedgerRuntime | None = getattr(app.state, "runtime", None)
    headers = dict(scope["headers"])
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    length = headers.get(b"content-length", b"")
    if (
        runtime is None
        or scheme.lower() != "bearer"
        or not token.strip()
        or not length.isdigit()
        or (limit is not None and int(length) > limit)
        or b"transfer-encoding" in headers
    ):
        return False
    actor = await runtime.authenticator.authenticate(token.strip())
    if actor is None or actor.role not in WRITER_ROLES:
        return False
    body = await _body(receive)
    try:
        request = append_request_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        await framework(scope, _replay(body, receive), send)
        return True
    request_id = str(scope.get("state", {}).get("request_id", ""))
    try:
        outcome = (
            await runtime.store.append([candidate_of(request, actor, request_id)], atomic=True)
        )[0]
    except LedgerBusy as exc:
        await _problem(send, *busy(str(exc), PATH))
        return True
    except KeyOverShare as exc:
        await _problem(send, *over_share(exc, PATH))
        return True
    if isinstance(outcome, Refused):
        await _problem(send, outcome.problem(instance=PATH), {})
        return True
    log_appended(outcome)
    await _respond(send, 200 if outcome.duplicate else 201, _JSON, _encoder.encode(outcome))
    return True


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body this layer already read given back first."""
    given = False

    async def replayed() -> Any:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _problem(send: Send, problem: Problem, headers: dict[str, str]) -> None:
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await _respond(send, problem.status, _PROBLEM + extra, _encoder.encode(problem))


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], content: bytes
) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(content)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": content, "more_body": False})
