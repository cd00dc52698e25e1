"""Reading the log: paged, streamed as NDJSON, by stream, and the head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, Parameter, QueryParameter
from litestar.response import Stream

from proto.envelope import Actor, LedgerHead, LogPage, Role, StreamPage
from proto.events import EVENT_TYPE_NAMES
from services.common.http.auth import ANY_ROLE, READ_ALL
from services.ledger.errors import unprocessable
from services.ledger.http.problems import RefusedException
from services.ledger.reads import (
    read_head,
    read_log,
    read_log_of_types,
    read_stream,
    stream_log,
)
from services.ledger.runtime import Runtime

PAGE_MAX = 1000
STREAM_FETCH_ROWS = 2000


@get(
    "/v1/log",
    guards=[READ_ALL],
    summary="Read the global log, one page at a time",
    description=(
        "Events with position > after_position, in position order. Resume with"
        " next_after_position. With `type` (repeatable), only events of those types, up to"
        " the head read before them: a page shorter than `limit` then ends at"
        " next_after_position = head_position."
    ),
)
async def get_log(
    runtime: Runtime,
    after_position: Annotated[int, Parameter(ge=0)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
    types: Annotated[
        list[str] | None,
        QueryParameter(name="type", description="Only events of these types", max_items=32),
    ] = None,
) -> LogPage:
    if types:
        unknown = sorted(set(types) - EVENT_TYPE_NAMES)
        if unknown:
            raise RefusedException(
                unprocessable(f"unknown event types: {', '.join(unknown)}", "unknown_event_type")
            )
        found, head_position = await read_log_of_types(runtime.pool, after_position, limit, types)
        scanned_to = found[-1].position if len(found) == limit else head_position
        return LogPage(
            events=found,
            next_after_position=max(after_position, scanned_to),
            head_position=head_position,
        )
    events = await read_log(runtime.pool, after_position, limit)
    head = await read_head(runtime.pool)
    next_after = events[-1].position if events else after_position
    return LogPage(events=events, next_after_position=next_after, head_position=head.position)


@get(
    "/v1/log/ndjson",
    guards=[READ_ALL],
    summary="Stream the global log as NDJSON",
    description=(
        "One RecordedEvent per line (application/x-ndjson), from after_position up to "
        "to_position (default: everything). Resumable: restart with the last position read."
    ),
    media_type="application/x-ndjson",
)
async def get_log_ndjson(
    runtime: Runtime,
    after_position: Annotated[int, Parameter(ge=0)] = 0,
    to_position: Annotated[int | None, Parameter(ge=1)] = None,
) -> Stream:
    encoder = msgspec.json.Encoder()

    async def lines() -> AsyncIterator[bytes]:
        buffer = bytearray()
        async for event in stream_log(runtime.pool, after_position, to_position, STREAM_FETCH_ROWS):
            encoder.encode_into(event, buffer, len(buffer))
            buffer.extend(b"\n")
            if len(buffer) >= 256 * 1024:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    return Stream(lines(), media_type="application/x-ndjson")


@get(
    "/v1/streams/{stream:str}",
    guards=[ANY_ROLE],
    summary="Read one stream",
    description="Events of a stream (e.g. learner-123456789012) in version order. Institutions see only the events they recorded.",
)
async def get_stream(
    request: Request[Actor, Any, Any],
    stream: FromPath[str],
    runtime: Runtime,
    after_version: Annotated[int, Parameter(ge=0)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
) -> StreamPage:
    actor = request.user
    own = actor.institution_id if actor.role is Role.INSTITUTION else None
    events = await read_stream(runtime.pool, stream, after_version, limit, own)
    next_after = events[-1].stream_version if events else after_version
    return StreamPage(stream=stream, events=events, next_after_version=next_after)


@get("/v1/head", guards=[ANY_ROLE], summary="The ledger head: last position and its chain hash")
async def get_head(runtime: Runtime) -> LedgerHead:
    return await read_head(runtime.pool)
