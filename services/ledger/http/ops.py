"""Health, readiness and Prometheus metrics: public, for orchestrators and scrapers."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST

from services.common.openapi import NO_CREDENTIALS
from services.common.shared_metrics import exposition
from services.ledger.relay import RELAY_LOCK_KEY
from services.ledger.runtime import Runtime


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    database: bool | None = None
    relay_leader: bool | None = None
    relay_position: int | None = None


@get(
    "/health",
    security=NO_CREDENTIALS,
    summary="Liveness: the process answers",
    include_in_schema=True,
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    security=NO_CREDENTIALS,
    summary="Readiness: the database answers",
    include_in_schema=True,
    responses={503: ResponseSpec(Health, description="The database does not answer.")},
)
async def ready(runtime: Runtime) -> Response[Health]:
    try:
        database = await runtime.pool.fetchval("SELECT true", timeout=2.0) is True
    except Exception:
        database = False
    relay = runtime.relay
    leader: bool | None
    position: int | None
    if relay is not None:
        leader, position = relay.is_leader, relay.published_position
    elif database:
        leader, position = await _relay_elsewhere(runtime)
    else:
        leader, position = None, None
    body = Health(
        status="ok" if database else "unavailable",
        database=database,
        relay_leader=leader,
        relay_position=position,
    )
    return Response(body, status_code=200 if database else 503)


@get(
    "/metrics",
    security=NO_CREDENTIALS,
    summary="Prometheus metrics",
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(exposition(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _relay_elsewhere(runtime: Runtime) -> tuple[bool | None, int | None]:
    """The relay of another process (``credit-ledger relay``): whether one holds the relay
    lock, and the position it last recorded as published."""
    row = await runtime.pool.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = $1 AND objid = $2 AND objsubid = 1) AS leader,"
        " (SELECT position FROM ledger.relay_progress) AS position",
        RELAY_LOCK_KEY >> 32,
        RELAY_LOCK_KEY & 0xFFFFFFFF,
        timeout=2.0,
    )
    return (row["leader"], row["position"]) if row is not None else (None, None)
