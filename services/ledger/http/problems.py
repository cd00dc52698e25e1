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


def _on_busy(request: Request[Any, Any, Any], exc: LedgerBusy) -> Response[bytes]:
    problem = Problem(
        type="urn:credit-ledger:problem:busy",
        title=TITLES[503],
        status=503,
        detail=str(exc),
        code="busy",
        instance=request.url.path,
    )
    return problem_response(problem, {"Retry-After": "1"})


def _on_over_share(request: Request[Any, Any, Any], exc: KeyOverShare) -> Response[bytes]:
    problem = Problem(
        type="urn:credit-ledger:problem:over-fair-share",
        title=TITLES[429],
        status=429,
        detail=str(exc),
        code="over_fair_share",
        instance=request.url.path,
    )
    return problem_response(problem, {"Retry-After": str(exc.retry_after_s)})


EXCEPTION_HANDLERS: Any = {
    RefusedException: _on_refused,
    LedgerBusy: _on_busy,
    KeyOverShare: _on_over_share,
    **problems.EXCEPTION_HANDLERS,
}
