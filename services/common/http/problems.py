"""Every error leaves as RFC 9457 problem+json, with the right status and nothing written.

A service adds the handlers of its own refusals to ``EXCEPTION_HANDLERS``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, plus a stable machine-readable ``code``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable event",
    429: "Over fair share",
    503: "Ledger busy",
}


class CodedProblem(HTTPException):
    """A refusal a route raises with its own problem ``code`` (and headers, such as
    ``Retry-After``)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    detail = exc.detail
    errors = None
    code = {400: "malformed", 401: "unauthenticated", 403: "forbidden", 404: "not_found"}.get(
        status, f"http_{status}"
    )
    if isinstance(exc, ValidationException):
        # Litestar reports body decoding errors (msgspec) and bad query parameters here.
        status, code = _validation_status(exc)
        errors = exc.extra if isinstance(exc.extra, list) else None
        detail = _validation_detail(exc)
    if status == 413:
        code = "body_too_large"
    if isinstance(exc, CodedProblem):
        code = exc.code
    problem = Problem(
        type=f"urn:credit-ledger:problem:{code}",
        title="Invalid parameter" if code == "invalid_parameter" else TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        instance=request.url.path,
        errors=errors,
    )
    headers = dict(exc.headers or {}) if isinstance(exc, CodedProblem) else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(problem, headers or None)


# Where Litestar found a value out of shape, besides the body.
PARAMETER_SOURCES = frozenset({"query", "path", "header", "cookie"})


def _validation_status(exc: ValidationException) -> tuple[int, str]:
    """Well-formed input of the wrong shape: ``invalid_parameter`` when every error is in a
    path or query parameter (or a header), ``invalid_body`` otherwise. Malformed JSON
    arrives as a plain 400 ClientException instead."""
    return 422, "invalid_parameter" if _parameter_errors(exc) else "invalid_body"


def _parameter_errors(exc: ValidationException) -> bool:
    errors = exc.extra if isinstance(exc.extra, list) else []
    return bool(errors) and all(
        isinstance(e, dict) and e.get("source") in PARAMETER_SOURCES for e in errors
    )


def _validation_detail(exc: ValidationException) -> str:
    """The first error's message, prefixed by the parameter it is about."""
    if isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict) and "message" in first:
            if first.get("source") in PARAMETER_SOURCES and first.get("key"):
                return f"{first['key']}: {first['message']}"
            return str(first["message"])
    return str(exc.detail)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def internal_error_detail(method: str) -> str:
    """What a 500 tells the client: a write may be retried with the same idempotency key
    (an event_id the ledger took is answered as a duplicate, not recorded twice); a read
    has no key and nothing to say about one."""
    if method.upper() in WRITE_METHODS:
        return "the request failed; it is safe to retry with the same event_id"
    return "the request failed"


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled_error", path=request.url.path)
    problem = Problem(
        type="urn:credit-ledger:problem:internal",
        title="Internal error",
        status=500,
        detail=internal_error_detail(request.method),
        code="internal",
        instance=request.url.path,
    )
    return problem_response(problem)


EXCEPTION_HANDLERS: Any = {
    HTTPException: _on_http,
    Exception: _on_unexpected,
}
