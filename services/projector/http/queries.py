"""Query API: a learner's credit bank, progress with explanations, eligible learners.

Every read accepts ``as_of_position`` or ``as_of_time`` and answers by replaying the
learner's history through the pure core; without them it answers as of the checkpoint.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, NoReturn

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter

from domain.views import DecisionView, LearnerBank, decision_view
from proto.types import Code, LearnerId
from services.common.http.answers import problem_answers
from services.common.http.bounds import BIGINT_MAX, shaped
from services.projector.replay import decide_one, position_as_of, replay
from services.projector.runtime import ProjectorRuntime, Runtime

PAGE_MAX = 1000
# A learner id's shape (proto.types.LearnerId), or nothing for the first page.
AFTER_LEARNER_PATTERN = r"^([A-Za-z0-9_-]{1,64})?$"

AsOfPosition = Annotated[
    int | None, Parameter(ge=0, le=BIGINT_MAX, description="Answer as of this log position.")
]
AsOfTime = Annotated[
    dt.datetime | None, Parameter(description="Answer as of this time (RFC 3339, with a zone).")
]


class EligibleLearners(msgspec.Struct, frozen=True, kw_only=True):
    qualification_code: str
    learners: list[str]
    next_after_learner: str | None


def _check_learner_id(runtime: ProjectorRuntime, learner_id: str) -> None:
    """A learner id the ledger would never accept is a bad parameter (422), not an unknown
    learner (404)."""
    if runtime.learner_id_pattern.fullmatch(learner_id) is None:
        raise ValidationException(
            "not a learner id",
            extra=[{"message": "not a learner id", "key": "learner_id", "source": "path"}],
        )


def _check_as_of(as_of_position: int | None, as_of_time: dt.datetime | None) -> None:
    if as_of_position is not None and as_of_time is not None:
        _bad_query("as_of_time", "give as_of_position or as_of_time, not both")
    if as_of_time is not None and as_of_time.tzinfo is None:
        _bad_query("as_of_time", "needs a time zone, e.g. 2026-03-01T00:00:00Z")


def _bad_query(key: str, message: str) -> NoReturn:
    raise ValidationException(message, extra=[{"message": message, "key": key, "source": "query"}])


@get(
    "/v1/learners/{learner_id:str}/credit-bank",
    summary="A learner's credit bank and progress",
    responses=problem_answers({404: "No events for this learner as of the position."}),
)
async def get_credit_bank(
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
    as_of_position: AsOfPosition = None,
    as_of_time: AsOfTime = None,
) -> LearnerBank:
    _check_learner_id(runtime, learner_id)
    _check_as_of(as_of_position, as_of_time)
    async with runtime.pool.acquire() as conn:
        position = await position_as_of(
            conn, runtime.times, runtime.partition_of(learner_id), as_of_position, as_of_time
        )
        answer = await replay(conn, runtime.times, learner_id, position, as_of_time)
    if not answer.found:
        raise NotFoundException(f"no events for learner {learner_id} as of position {position}")
    return answer.view()


@get(
    "/v1/learners/{learner_id:str}/progress/{qualification_code:str}",
    summary="Progress towards one qualification, with the explanation an auditor needs",
    responses=problem_answers({404: "No such qualification as of the position."}),
)
async def get_progress(
    learner_id: Annotated[str, shaped(LearnerId)],
    qualification_code: Annotated[str, shaped(Code)],
    runtime: Runtime,
    as_of_position: AsOfPosition = None,
    as_of_time: AsOfTime = None,
) -> DecisionView:
    _check_learner_id(runtime, learner_id)
    _check_as_of(as_of_position, as_of_time)
    async with runtime.pool.acquire() as conn:
        position = await position_as_of(
            conn, runtime.times, runtime.partition_of(learner_id), as_of_position, as_of_time
        )
        decision = await decide_one(
            conn, runtime.times, learner_id, qualification_code, position, as_of_time
        )
    if decision is None:
        raise NotFoundException(f"no qualification {qualification_code} as of position {position}")
    return decision_view(decision)


@get(
    "/v1/qualifications/{qualification_code:str}/eligible-learners",
    summary="Learners who currently satisfy a qualification's rule (paged by learner id)",
)
async def get_eligible(
    qualification_code: Annotated[str, shaped(Code)],
    runtime: Runtime,
    after_learner: Annotated[
        str, Parameter(pattern=AFTER_LEARNER_PATTERN, description="Page after this learner id.")
    ] = "",
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
) -> EligibleLearners:
    rows = await runtime.pool.fetch(
        "SELECT learner_id FROM projector.progress WHERE qualification_code = $1 AND satisfied"
        " AND learner_id > $2 ORDER BY learner_id LIMIT $3",
        qualification_code,
        after_learner,
        limit,
    )
    learners = [r["learner_id"] for r in rows]
    return EligibleLearners(
        qualification_code=qualification_code,
        learners=learners,
        next_after_learner=learners[-1] if len(learners) == limit else None,
    )
