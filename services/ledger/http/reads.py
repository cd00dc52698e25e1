"""Reading the log: paged, streamed as NDJSON, by stream, and the head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.exceptions import PermissionDeniedException
from litestar.params import Parameter, QueryParameter
from litestar.response import Stream

from proto.envelope import Actor, LedgerHead, LogPage, Role, StreamPage
from proto.events import EVENT_TYPE_NAMES
from proto.partitions import BUCKETS, Partition
from proto.types import StreamName
from services.common.http.auth import ANY_ROLE, READ_ALL
from services.common.http.bounds import BIGINT_MAX, shaped
from services.ledger.errors import unprocessable
from services.ledger.http.problems import RefusedException
from services.ledger.reads import (
    read_head,
    read_log,
    read_log_to_head,
    read_stream,
    stream_log,
)
from services.ledger.runtime import Runtime

PAGE_MAX = 1000
STREAM_FETCH_ROWS = 2000


def _partition_parameter(name: str, description: str, minimum: int, maximum: int) -> Any:
    # Bounds are checked by the handler (one problem code for every bad partition), and
    # stated here for the OpenAPI document.
    return QueryParameter(
        name=name,
        description=description,
        schema_extra={"minimum": minimum, "maximum": maximum},
    )


PartitionIndex = Annotated[
    int | None,
    _partition_parameter(
        "partition", "With `of`: only partition `partition` of `of` (0-based)", 0, BUCKETS - 1
    ),
]
PartitionCount = Annotated[
    int | None,
    _partition_parameter(
        "of", "With `partition`: how many partitions the log is split into", 1, BUCKETS
    ),
]
_PARTITIONS = (
    f" With `partition` and `of` (both or neither; 1 <= of <= {BUCKETS}, 0 <= partition < of),"
    " only the events of that partition (proto/partitions.py): a learner's events when"
    " the learner's bucket % of = partition, and every event of the other streams (catalog,"
    " institutions)."
)


def requested_partition(index: int | None, count: int | None) -> Partition | None:
    """The partition the query names, or None; a bad one is refused (422 bad_partition)."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise RefusedException(
            unprocessable("`partition` and `of` are given together, or neither", "bad_partition")
        )
    try:
        return Partition(index, count)
    except ValueError as exc:
        raise RefusedException(unprocessable(str(exc), "bad_partition")) from exc


@get(
    "/v1/log",
    guards=[READ_ALL],
    summary="Read the global log, one page at a time",
    description=(
        "Events with position > after_position, in position order. Resume with"
        " next_after_position. With `type` (repeatable), only events of those types."
        + _PARTITIONS
        + " With either filter, only events up to the head read before them: a page shorter"
        " than `limit` then ends at next_after_position = head_position, so nothing the"
        " filters select lies between after_position and head_position but the page."
    ),
)
async def get_log(
    runtime: Runtime,
    after_position: Annotated[int, Parameter(ge=0, le=BIGINT_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
    types: Annotated[
        list[str] | None,
        QueryParameter(name="type", description="Only events of these types", max_items=32),
    ] = None,
    partition: PartitionIndex = None,
    of: PartitionCount = None,
) -> LogPage:
    selected = requested_partition(partition, of)
    if types:
        unknown = sorted(set(types) - EVENT_TYPE_NAMES)
        if unknown:
            raise RefusedException(
                unprocessable(f"unknown event types: {', '.join(unknown)}", "unknown_event_type")
            )
    if types or selected is not None:
        found, head_position = await read_log_to_head(
            runtime.pool, after_position, limit, types=types or None, partition=selected
        )
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
        + _PARTITIONS
    ),
    media_type="application/x-ndjson",
)
async def get_log_ndjson(
    runtime: Runtime,
    after_position: Annotated[int, Parameter(ge=0, le=BIGINT_MAX)] = 0,
    to_position: Annotated[int | None, Parameter(ge=1, le=BIGINT_MAX)] = None,
    partition: PartitionIndex = None,
    of: PartitionCount = None,
) -> Stream:
    selected = requested_partition(partition, of)
    encoder = msgspec.json.Encoder()

    async def lines() -> AsyncIterator[bytes]:
        buffer = bytearray()
        events = stream_log(
            runtime.pool, after_position, to_position, STREAM_FETCH_ROWS, partition=selected
        )
        async for event in events:
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
    description=(
        "Events of a stream (e.g. learner-123456789012) in version order. Institutions see"
        " only the events they recorded; a learner reads only their own stream."
    ),
)
async def get_stream(
    request: Request[Actor, Any, Any],
    stream: Annotated[str, shaped(StreamName)],
    runtime: Runtime,
    after_version: Annotated[int, Parameter(ge=0, le=BIGINT_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
) -> StreamPage:
    actor = request.user
    if actor.role is Role.LEARNER and stream != f"learner-{actor.learner_id}":
        raise PermissionDeniedException("a learner reads only their own stream")
    own = actor.institution_id if actor.role is Role.INSTITUTION else None
    events = await read_stream(runtime.pool, stream, after_version, limit, own)
    next_after = events[-1].stream_version if events else after_version
    return StreamPage(stream=stream, events=events, next_after_version=next_after)


@get("/v1/head", guards=[ANY_ROLE], summary="The ledger head: last position and its chain hash")
async def get_head(runtime: Runtime) -> LedgerHead:
    return await read_head(runtime.pool)
