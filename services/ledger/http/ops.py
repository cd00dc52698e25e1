"""Health, readiness and Prometheus metrics: public, for orchestrators and scrapers."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.ledger.runtime import Runtime


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    database: bool | None = None
    relay_leader: bool | None = None
    relay_position: int | None = None


@get("/health", summary="Liveness: the process answers", include_in_schema=True)
async def health() -> Health:
    return Health(status="ok")


@get("/ready", summary="Readiness: the database answers", include_in_schema=True)
async def ready(runtime: Runtime) -> Response[Health]:
    try:
        database = await runtime.pool.fetchval("SELECT true", timeout=2.0) is True
    except Exception:
        database = False
    relay = runtime.relay
    body = Health(
        status="ok" if database else "unavailable",
        database=database,
        relay_leader=relay.is_leader if relay else None,
        relay_position=relay.published_position if relay else None,
    )
    return Response(body, status_code=200 if database else 503)


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
