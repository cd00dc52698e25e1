"""Health, readiness and metrics of the projector: public."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.projector import store
from services.projector.runtime import Runtime


class ProjectorHealth(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    checkpoint: int | None = None
    leader: bool | None = None
    cached_learners: int | None = None


@get("/health", summary="Liveness")
async def health() -> ProjectorHealth:
    return ProjectorHealth(status="ok")


@get("/ready", summary="Readiness: the database answers; shows the checkpoint")
async def ready(runtime: Runtime) -> Response[ProjectorHealth]:
    try:
        async with runtime.pool.acquire() as conn:
            position = await store.checkpoint(conn)
    except Exception:
        return Response(ProjectorHealth(status="unavailable"), status_code=503)
    worker = runtime.worker
    projection = worker.projection if worker else None
    return Response(
        ProjectorHealth(
            status="ok",
            checkpoint=position,
            leader=worker.is_leader if worker else None,
            cached_learners=projection.cached_learners if projection else None,
        )
    )


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
