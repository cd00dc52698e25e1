"""Health, readiness and metrics of the projector: public."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proto.partitions import all_partitions
from services.common.openapi import NO_CREDENTIALS
from services.projector import store
from services.projector.runtime import Runtime


class PartitionHealth(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    partitions: int
    checkpoint: int
    # Whether a worker of this process leads the partition (None: this process runs none).
    leader: bool | None = None
    cached_learners: int | None = None


class ProjectorHealth(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    # The lowest partition checkpoint: every event at or before it is applied.
    checkpoint: int | None = None
    # Whether every worker this process runs leads its partition (None: it runs none).
    leader: bool | None = None
    partitions: list[PartitionHealth] | None = None


@get("/health", security=NO_CREDENTIALS, summary="Liveness")
async def health() -> ProjectorHealth:
    return ProjectorHealth(status="ok")


@get(
    "/ready",
    security=NO_CREDENTIALS,
    summary="Readiness: the database answers; shows the checkpoint",
    responses={503: ResponseSpec(ProjectorHealth, description="The database does not answer.")},
)
async def ready(runtime: Runtime) -> Response[ProjectorHealth]:
    layout = all_partitions(runtime.partitions)
    try:
        async with runtime.pool.acquire() as conn:
            stored = await store.checkpoints(conn)
    except Exception:
        return Response(ProjectorHealth(status="unavailable"), status_code=503)
    workers = {worker.partition: worker for worker in runtime.workers}
    partitions = []
    for partition in layout:
        worker = workers.get(partition)
        projection = worker.projection if worker else None
        partitions.append(
            PartitionHealth(
                partition=partition.index,
                partitions=partition.count,
                checkpoint=stored.get(partition, 0),
                leader=worker.is_leader if worker else None,
                cached_learners=projection.cached_learners if projection else None,
            )
        )
    return Response(
        ProjectorHealth(
            status="ok",
            checkpoint=min(p.checkpoint for p in partitions),
            leader=all(w.is_leader for w in runtime.workers) if runtime.workers else None,
            partitions=partitions,
        )
    )


@get(
    "/metrics",
    security=NO_CREDENTIALS,
    summary="Prometheus metrics",
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
