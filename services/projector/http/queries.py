"""Query API: a learner's credit bank, progress with explanations, eligible learners.

Every read accepts ``as_of_position`` or ``as_of_time`` and answers by replaying the
learner's history through the pure core; without them it answers as of the checkpoint.

Scoped like the ledger's reads: an institution key sees what its institution recorded.
A learner it recorded nothing for is not found (404), so that the learner's existence
does not leak; for its own learners the bank and progress are folded from its own events
only and say so (``recorded_by``); the eligible learners are its own learners whose own
events satisfy the rule. Every other role sees the whole history (``recorded_by`` null).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, NoReturn

import msgspec
from litestar import Request, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter

from domain.consent import grants_of, may_read_whole_bank
from domain.views import RECORDED_BY, DecisionView, LearnerBank, decision_view
from proto.envelope import Actor, Role
from proto.types import Code, LearnerId
from services.common.db import Conn
from services.common.http.answers import problem_answers
from services.common.http.auth import requires
from services.common.http.bounds import BIGINT_MAX, shaped
from services.common.http.problems import CodedProblem
from services.projector import store
from services.projector.replay import (
    NothingRecorded,
    NotYetProjected,
    PastTheHead,
    decide_one,
    position_as_of,
    replay,
    satisfied_on_own_events,
)
from services.projector.runtime import ProjectorRuntime, Runtime

PAGE_MAX = 1000
# What a 409 not_yet_projected tells the client to wait before asking again.
NOT_YET_RETRY_AFTER_S = 1
NOT_YET = (
    "not_yet_projected: the ledger holds as_of_position but the learner's partition has not"
    " applied it yet (ask again after Retry-After seconds)."
)
# A learner id's shape (proto.types.LearnerId), or nothing for the first page.
AFTER_LEARNER_PATTERN = r"^([A-Za-z0-9_-]{1,64})?$"

AsOfPosition = Annotated[
    int | None,
    Parameter(
        ge=0,
        le=BIGINT_MAX,
        description=(
            "Answer as of this log position: what the ledger knew once it had recorded it."
            " Past the ledger's head: 422. Not applied yet by the learner's partition: waited"
            " for up to 2 s, then 409 not_yet_projected with Retry-After."
        ),
    ),
]
AsOfTime = Annotated[
    dt.datetime | None,
    Parameter(
        description=(
            "Answer as of this time (RFC 3339, with a zone): what the ledger knew then, i.e."
            " the events it had recorded by that moment, judged at that moment. A time before"
            " the first event recorded gives 404."
        )
    ),
]


AsOfDate = Annotated[
    dt.date | None,
    Parameter(
        description=(
            "The other time axis: the learner's standing on this day (YYYY-MM-DD), as the"
            " ledger knows it now: the passes assessed on or before it (however late they"
            " were recorded), the awards recorded by then, revocations and redemptions as"
            " they stand now, shelf life and rules judged at the end of the day."
        )
    ),
]


class EligibleLearners(msgspec.Struct, frozen=True, kw_only=True):
    qualification_code: str
    learners: list[str]
    next_after_learner: str | None
    recorded_by: Annotated[str | None, msgspec.Meta(description=RECORDED_BY)] = None


def recorded_by(actor: Actor) -> str | None:
    """The institution whose events alone the caller may see; None: every event."""
    return actor.institution_id if actor.role is Role.INSTITUTION else None


async def scope_for(conn: Conn, actor: Actor, learner_id: str) -> str | None:
    """``recorded_by``, widened to the whole bank (None) for an institution the learner's
    consent lets read it today (``domain.consent``: a grant in force when the read is
    made, whatever point in time the read asks about)."""
    own = recorded_by(actor)
    if own is None:
        return None
    grants = grants_of(await store.consent_events(conn, learner_id))
    return None if may_read_whole_bank(grants, own, dt.datetime.now(dt.UTC).date()) else own


def _check_own(actor: Actor, learner_id: str) -> None:
    """A learner reads only their own record: another learner is a 404, as for an
    institution that recorded nothing for them."""
    if actor.role is Role.LEARNER and actor.learner_id != learner_id:
        raise NotFoundException(f"no events for learner {learner_id} that this learner may read")


def _check_learner_id(runtime: ProjectorRuntime, learner_id: str) -> None:
    """A learner id the ledger would never accept is a bad parameter (422), not an unknown
    learner (404)."""
    if runtime.learner_id_pattern.fullmatch(learner_id) is None:
        raise ValidationException(
            "not a learner id",
            extra=[{"message": "not a learner id", "key": "learner_id", "source": "path"}],
        )


def _check_as_of(
    as_of_position: int | None, as_of_time: dt.datetime | None, as_of_date: dt.date | None = None
) -> None:
    given = [
        name
        for name, value in (
            ("as_of_position", as_of_position),
            ("as_of_time", as_of_time),
            ("as_of_date", as_of_date),
        )
        if value is not None
    ]
    if len(given) > 1:
        _bad_query(
            given[1],
            f"give one of as_of_position, as_of_time and as_of_date, not both {given[0]}"
            f" and {given[1]}",
        )
    if as_of_time is not None and as_of_time.tzinfo is None:
        _bad_query("as_of_time", "needs a time zone, e.g. 2026-03-01T00:00:00Z")


async def _position(
    conn: Conn,
    runtime: ProjectorRuntime,
    learner_id: str,
    as_of_position: int | None,
    as_of_time: dt.datetime | None,
) -> int:
    """The position to answer at; 422 past the ledger's head, 409 ``not_yet_projected``
    (with ``Retry-After``) for a position the learner's partition has not applied yet."""

    async def head() -> int:
        return (await runtime.ledger.head()).position

    try:
        return await position_as_of(
            conn, runtime.times, runtime.partition_of(learner_id), as_of_position, as_of_time, head
        )
    except PastTheHead as error:
        _bad_query("as_of_position", str(error))
    except NotYetProjected as error:
        raise CodedProblem(
            409, "not_yet_projected", str(error), {"Retry-After": str(NOT_YET_RETRY_AFTER_S)}
        ) from None


def _bad_query(key: str, message: str) -> NoReturn:
    raise ValidationException(message, extra=[{"message": message, "key": key, "source": "query"}])


@get(
    "/v1/learners/{learner_id:str}/credit-bank",
    summary="A learner's credit bank and progress",
    description=(
        "An institution key sees what its institution recorded (`recorded_by`), or the"
        " whole bank while a grant of the learner's consent to it is in force; a learner's"
        " passbook link, only the learner's own."
    ),
    responses=problem_answers(
        {
            404: "No events for this learner as of the position (none of the key's"
            " institution's, unless the learner's consent lets it read the whole bank).",
            409: NOT_YET,
        }
    ),
)
async def get_credit_bank(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
    as_of_position: AsOfPosition = None,
    as_of_time: AsOfTime = None,
    as_of_date: AsOfDate = None,
) -> LearnerBank:
    _check_learner_id(runtime, learner_id)
    _check_own(request.user, learner_id)
    _check_as_of(as_of_position, as_of_time, as_of_date)
    async with runtime.pool.acquire() as conn:
        scope = await scope_for(conn, request.user, learner_id)
        position = await _position(conn, runtime, learner_id, as_of_position, as_of_time)
        answer = await replay(
            conn, runtime.times, learner_id, position, as_of_time, scope, as_of_date
        )
    if not answer.found:
        raise NotFoundException(f"no events for learner {learner_id} as of position {position}")
    return answer.view(scope)


@get(
    "/v1/learners/{learner_id:str}/progress/{qualification_code:str}",
    summary="Progress towards one qualification, with the explanation an auditor needs",
    responses=problem_answers(
        {
            404: "No such qualification as of the position, or (to an institution key) a"
            " learner the institution recorded nothing for.",
            409: NOT_YET,
        }
    ),
)
async def get_progress(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    qualification_code: Annotated[str, shaped(Code)],
    runtime: Runtime,
    as_of_position: AsOfPosition = None,
    as_of_time: AsOfTime = None,
    as_of_date: AsOfDate = None,
) -> DecisionView:
    _check_learner_id(runtime, learner_id)
    _check_own(request.user, learner_id)
    _check_as_of(as_of_position, as_of_time, as_of_date)
    async with runtime.pool.acquire() as conn:
        scope = await scope_for(conn, request.user, learner_id)
        position = await _position(conn, runtime, learner_id, as_of_position, as_of_time)
        try:
            decision = await decide_one(
                conn,
                runtime.times,
                learner_id,
                qualification_code,
                position,
                as_of_time,
                scope,
                as_of_date,
            )
        except NothingRecorded:
            raise NotFoundException(
                f"no events for learner {learner_id} as of position {position}"
            ) from None
    if decision is None:
        raise NotFoundException(f"no qualification {qualification_code} as of position {position}")
    return decision_view(decision, scope)


@get(
    "/v1/qualifications/{qualification_code:str}/eligible-learners",
    guards=[requires(Role.INSTITUTION, Role.ISSUER, Role.ADMIN, Role.AUDITOR)],
    summary="Learners who currently satisfy a qualification's rule (paged by learner id)",
    description=(
        "To an institution key: its own learners whose own events satisfy the rule. Such a"
        " page looks at `limit` of the institution's learners, so it may hold fewer (even"
        " none): follow `next_after_learner` until it is null."
    ),
)
async def get_eligible(
    request: Request[Actor, Any, Any],
    qualification_code: Annotated[str, shaped(Code)],
    runtime: Runtime,
    after_learner: Annotated[
        str, Parameter(pattern=AFTER_LEARNER_PATTERN, description="Page after this learner id.")
    ] = "",
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
) -> EligibleLearners:
    scope = recorded_by(request.user)
    async with runtime.pool.acquire() as conn:
        if scope is None:
            looked_at = learners = await store.satisfied_learners(
                conn, qualification_code, after_learner, limit
            )
        else:
            looked_at = await store.learners_recorded_by(conn, scope, after_learner, limit)
            learners = await satisfied_on_own_events(
                conn, runtime.times, looked_at, runtime.partition_of, qualification_code, scope
            )
    return EligibleLearners(
        qualification_code=qualification_code,
        learners=learners,
        next_after_learner=looked_at[-1] if len(looked_at) == limit else None,
        recorded_by=scope,
    )
