"""Refusals: every one becomes an RFC 9457 problem+json response with its own status."""

from __future__ import annotations

from typing import Any

import msgspec

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


class Refused(Exception):
    """An event or request the ledger will not accept; nothing is written."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def problem(self, *, instance: str | None = None) -> Problem:
        return Problem(
            type=f"urn:credit-ledger:problem:{self.code}",
            title=TITLES.get(self.status, "Refused"),
            status=self.status,
            detail=self.detail,
            code=self.code,
            instance=instance,
        )

    def as_item(self, index: int) -> dict[str, Any]:
        return {"index": index, "status": self.status, "code": self.code, "detail": self.detail}


TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable event",
    503: "Ledger busy",
}


def bad_request(detail: str) -> Refused:
    return Refused(400, "malformed", detail)


def forbidden(detail: str, code: str = "forbidden") -> Refused:
    return Refused(403, code, detail)


def conflict(detail: str, code: str) -> Refused:
    return Refused(409, code, detail)


def unprocessable(detail: str, code: str) -> Refused:
    return Refused(422, code, detail)
