"""The ledger's refusals as problem+json, beside the platform's handlers of every error."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from services.common.http import problems
from services.common.http.problems import TITLES, Problem, problem_response
from services.ledger.append import LedgerBusy
from services.ledger.errors import Refused
from services.ledger.fair_share import KeyOverShare


class RefusedException(Exception):
    """Carries a ``Refused`` (or a batch of item refusals) out of a handler."""

    def __init__(self, refusal: Refused, items: list[dict[str, Any]] | None = None) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.items = items


def _on_refused(request: Request[Any, Any, Any], exc: RefusedException) -> Response[bytes]:
    problem = exc.refusal.problem(instance=request.url.path)
    if exc.items is not None:
        problem = msgspec.structs.replace(problem, errors=exc.items)
    return problem_response(problem)


def busy(detail: str, instance: str) -> tuple[Problem, dict[str, str]]:
    """The 503 of a full append queue, and its headers."""
    problem = Problem(
        type="urn:credit-ledger:problem:busy",
        title=TITLES[503],
        status=503,
        detail=detail,
        code="busy",
        instance=instance,
    )
    return problem, {"Retry-After": "1"}


def over_share(exc: KeyOverShare, instance: str) -> tuple[Problem, dict[str, str]]:
    """The 429 of a key over its fair share, and its headers."""
    problem = Problem(
        type="urn:credit-ledger:problem:over-fair-share",
        title=TITLES[429],
        status=429,
        detail=str(exc),
        code="over_fair_share",
        instance=instance,
    )
    return problem, {"Retry-After": str(exc.retry_after_s)}


def _on_busy(request: Request[Any, Any, Any], exc: LedgerBusy) -> Response[bytes]:
    return problem_response(*busy(str(exc), request.url.path))


def _on_over_share(request: Request[Any, Any, Any], exc: KeyOverShare) -> Response[bytes]:
    return problem_response(*over_share(exc, request.url.path))


EXCEPTION_HANDLERS: Any = {
    RefusedException: _on_refused,
    LedgerBusy: _on_busy,
    KeyOverShare: _on_over_share,
    **problems.EXCEPTION_HANDLERS,
}
