"""Appending events: one at a time, or an atomic batch; reading one event by id."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from proto.envelope import Actor, AppendResult, RecordedEvent, Role
from proto.events import stream_of
from proto.http import (
    AppendRequest,
    BatchAppendRequest,
    append_request_decoder,
    batch_request_decoder,
)
from services.common.http.answers import problem_answers
from services.common.http.auth import ANY_ROLE, requires
from services.common.logs import logger_for
from services.ledger.errors import Refused, bad_request, unprocessable
from services.ledger.http.problems import RefusedException
from services.ledger.reads import read_event
from services.ledger.runtime import Runtime
from services.ledger.write_model import Candidate

T = TypeVar("T")

# A learner writes only their own consent (services/ledger/write_model.authorize).
WRITERS = requires(Role.INSTITUTION, Role.ISSUER, Role.ADMIN, Role.LEARNER)

_PROBLEMS = problem_answers(
    {
        400: "Malformed JSON.",
        401: "Missing, unknown or revoked API key.",
        403: "The key's role or institution may not write this event.",
        409: "Duplicate natural key, event id reused with other content, or wrong expected_version.",
        413: "Request body over the limit.",
        422: "Well-formed but invalid event (unknown code, unknown assessment, future date...).",
        429: "This key is over its fair share of the append queue while other keys wait;"
        " retry after the Retry-After delay.",
        503: "The append queue is full; retry after the Retry-After delay.",
    }
)


def candidate_of(item: AppendRequest, actor: Actor, request_id: str) -> Candidate:
    """The candidate an item of a request makes, with who asked (shared by the fast path)."""
    return Candidate(
        event_id=str(item.event_id),
        event=item.event,
        stream=stream_of(item.event),
        expected_version=item.expected_version,
        actor=actor,
        request_id=request_id,
        correlation_id=item.correlation_id,
        causation_id=item.causation_id,
    )


async def _strict(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T]) -> T:
    """Decode the body again, strictly: Litestar converts ``data`` leniently ("60" -> 60)."""
    try:
        return decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        raise RefusedException(unprocessable(str(exc), "invalid_body")) from exc
    except msgspec.DecodeError as exc:
        raise RefusedException(bad_request(f"malformed JSON: {exc}")) from exc


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


@post(
    "/v1/events",
    guards=[WRITERS],
    summary="Append one event",
    description=(
        "Appends one event to its stream (derived from the event). 201 with its position and "
        "hash; a retry with the same event_id and content returns the original result with "
        "200 and duplicate=true."
    ),
    responses={
        **_PROBLEMS,
        200: ResponseSpec(
            AppendResult, description="Duplicate of an earlier append.", generate_examples=False
        ),
    },
    status_code=201,
)
async def append_event(
    request: Request[Actor, Any, Any], data: JSONBody[AppendRequest], runtime: Runtime
) -> Response[AppendResult]:
    data = await _strict(request, append_request_decoder)
    outcome = (
        await runtime.store.append(
            [candidate_of(data, request.user, _request_id(request))], atomic=True
        )
    )[0]
    if isinstance(outcome, Refused):
        raise RefusedException(outcome)
    log_appended(outcome)
    return Response(outcome, status_code=200 if outcome.duplicate else 201)


def log_appended(outcome: AppendResult) -> None:
    """The log line of one appended event (shared by the fast path)."""
    logger_for(__name__).info(
        "event_appended",
        event_id=outcome.event_id,
        position=outcome.position,
        stream=outcome.stream,
        duplicate=outcome.duplicate,
    )


@post(
    "/v1/events/batch",
    guards=[WRITERS],
    summary="Append a batch of events atomically",
    description=(
        "Appends up to CREDIT_LEDGER_BATCH_EVENTS_MAX events in one transaction: all or none. "
        "When any item is refused nothing is written and the problem lists every item's error "
        "under `errors` (index, status, code, detail)."
    ),
    responses=_PROBLEMS,
    status_code=201,
)
async def append_batch(
    request: Request[Actor, Any, Any], data: JSONBody[BatchAppendRequest], runtime: Runtime
) -> list[AppendResult]:
    data = await _strict(request, batch_request_decoder)
    limit = runtime.settings.ledger.batch_events_max
    if len(data.events) > limit:
        raise RefusedException(
            Refused(
                413,
                "batch_too_large",
                f"a batch holds at most {limit} events, got {len(data.events)}",
            )
        )
    runtime.metrics.batch_size.observe(len(data.events))
    request_id = _request_id(request)
    candidates = [candidate_of(item, request.user, request_id) for item in data.events]
    outcomes = await runtime.store.append(candidates, atomic=True)
    # Items refused only because a sibling was refused carry the code "batch_refused".
    causes = [
        (index, outcome)
        for index, outcome in enumerate(outcomes)
        if isinstance(outcome, Refused) and outcome.code != "batch_refused"
    ]
    if causes:
        summary = Refused(
            causes[0][1].status,
            "batch_refused",
            f"{len(causes)} of {len(outcomes)} events were refused; nothing was written",
        )
        raise RefusedException(summary, [refusal.as_item(index) for index, refusal in causes])
    return [o for o in outcomes if isinstance(o, AppendResult)]


@get(
    "/v1/events/{event_id:uuid}",
    guards=[ANY_ROLE],
    summary="Read one event by id",
    description=(
        "Institutions may read only the events they recorded, a learner only the events of"
        " their own stream."
    ),
    responses=problem_answers({404: "No such event, or one another institution recorded."}),
)
async def get_event(
    request: Request[Actor, Any, Any], event_id: FromPath[uuid.UUID], runtime: Runtime
) -> RecordedEvent:
    event = await read_event(runtime.pool, event_id)
    actor = request.user
    if (
        event is None
        or (
            actor.role is Role.INSTITUTION
            and event.metadata.actor.institution_id != actor.institution_id
        )
        or (actor.role is Role.LEARNER and event.stream != f"learner-{actor.learner_id}")
    ):
        raise NotFoundException(f"no event {event_id}")
    return event
