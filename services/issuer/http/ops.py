"""Health, readiness and metrics of the issuer: public."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.openapi import NO_CREDENTIALS
from services.issuer.runtime import Runtime


class IssuerHealth(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    consuming: dict[str, bool] | None = None
    signing_key: str | None = None


@get("/health", security=NO_CREDENTIALS, summary="Liveness")
async def health() -> IssuerHealth:
    return IssuerHealth(status="ok")


@get(
    "/ready",
    security=NO_CREDENTIALS,
    summary="Readiness: the database answers; shows which consumers run",
    responses={503: ResponseSpec(IssuerHealth, description="The database does not answer.")},
)
async def ready(runtime: Runtime) -> Response[IssuerHealth]:
    try:
        async with runtime.ctx.pool.acquire() as conn:
            await conn.fetchval("SELECT 1 FROM issuer.status_lists LIMIT 1")
    except Exception:
        return Response(IssuerHealth(status="unavailable"), status_code=503)
    keys = runtime.ctx.keys
    return Response(
        IssuerHealth(
            status="ok",
            consuming={w.name: w.consuming for w in runtime.workers},
            signing_key=keys.kid(keys.active),
        )
    )


@get(
    "/metrics",
    security=NO_CREDENTIALS,
    summary="Prometheus metrics",
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(generate_latest(runtime.ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
