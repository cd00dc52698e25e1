"""The outermost HTTP layer of every service: gives each request an id (X-Request-ID, or a
new one), binds it to every log line, logs one access line per request, and reads what is
left of a request body the app answered without reading.

It wraps the app's whole ASGI handler (``with_request_layer``), not its middleware stack:
Litestar's middleware runs inside the exception handling of the route, so a refusal raised
by the authentication middleware (401) or by the router (404, 405) would otherwise be sent
past it, without the header and logged with the status it never saw.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
import uuid

import structlog
from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from services.common.logs import logger_for

_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# An answer sent before the request body is read (413 on an announced length, 401 before
# the body) leaves the rest of the body unread. A client that writes the whole body before it
# reads (urllib, curl without Expect) and asked for "Connection: close" would then see the
# server close with unread data, which the kernel turns into a reset that can destroy the
# answer in flight. So the layer reads and discards the rest first, within these bounds;
# past them it answers anyway.
DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_MAX_S = 10.0


class _RequestIds:
    """Request ids unique without a random draw per request (uuid4 reads the kernel's
    random source each time): a random prefix per process, then a counter. The prefix is
    drawn again in a forked child, which would otherwise count the same ids."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._count = itertools.count()

    def __call__(self) -> str:
        if os.getpid() != self._pid:
            self._pid, self._prefix = os.getpid(), uuid.uuid4().hex[:16]
            self._count = itertools.count()
        return f"{self._prefix}{next(self._count):016x}"


new_request_id = _RequestIds()


def with_request_layer(app: Litestar) -> Litestar:
    """Install the layer around everything the app does for a request."""
    app.asgi_handler = request_layer(app.asgi_handler)
    return app


def _announces_body(headers: dict[bytes, bytes]) -> bool:
    if b"transfer-encoding" in headers:
        return True
    length = headers.get(b"content-length", b"0").strip()
    return length not in (b"", b"0")


def request_layer(app: ASGIApp) -> ASGIApp:
    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _ACCEPTED_ID.fullmatch(offered) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        body_pending = _announces_body(headers)
        # A client waiting for "100 Continue" has sent no body: nothing to drain.
        awaits_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        received = False

        async def tracked_receive() -> ReceiveMessage:
            nonlocal body_pending, received
            message = await receive()
            received = True
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def drain() -> None:
            left = DRAIN_MAX_BYTES
            try:
                async with asyncio.timeout(DRAIN_MAX_S):
                    while left > 0:
                        message = await receive()
                        if message["type"] != "http.request":
                            return
                        left -= len(message.get("body", b""))
                        if not message.get("more_body", False):
                            return
            except TimeoutError:
                return

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["x-request-id"] = request_id
                if body_pending and (received or not awaits_continue):
                    await drain()
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, tracked_receive, send_with_id)
            finally:
                logger_for("access").info(
                    "request",
                    method=scope.get("method", ""),
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

    return layer
