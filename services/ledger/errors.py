"""Refusals: every one becomes an RFC 9457 problem+json response with its own status."""

from __future__ import annotations

from typing import Any

from services.common.http.problems import TITLES, Problem


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


def bad_request(detail: str) -> Refused:
    return Refused(400, "malformed", detail)


def forbidden(detail: str, code: str = "forbidden") -> Refused:
    return Refused(403, code, detail)


def conflict(detail: str, code: str) -> Refused:
    return Refused(409, code, detail)


def unprocessable(detail: str, code: str) -> Refused:
    return Refused(422, code, detail)
