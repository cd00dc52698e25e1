"""The projector's composition root: the worker, the outbox publisher and the query API."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import asyncpg
from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from proto.derived import CREDIT_STREAM
from services.common import db
from services.common.collector import settle_long_lived
from services.common.http.auth import PUBLIC_PATHS, KeyCache, ledger_key_auth
from services.common.http.front_door import FrontDoor
from services.common.http.service_app import service_app
from services.common.ledger_client import LedgerClient
from services.common.lifecycle import running
from services.common.openapi import REQUIRES_API_KEY, api_key_components
from services.common.outbox import OutboxConfig, OutboxPublisher
from services.common.settings import Settings
from services.projector.http import ops, queries
from services.projector.metrics import ProjectorMetrics
from services.projector.nats_setup import declare_credit_stream
from services.projector.replay import LogTimes
from services.projector.runtime import ProjectorRuntime
from services.projector.worker import ProjectorWorker, WorkerConfig

# The CloudEvents source of the messages this service publishes.
CE_SOURCE = "urn:credit-ledger:projector"

PROJECTOR_ROLE = "credit_ledger_projector"


def _background(
    settings: Settings,
    database_url: str,
    nats_url: str,
    pool: asyncpg.Pool,
    ledger: LedgerClient,
    metrics: ProjectorMetrics,
) -> tuple[list[ProjectorWorker], OutboxPublisher]:
    """A worker for each partition this process runs, and the publisher of what they decided."""
    committed = asyncio.Event()
    workers = [
        ProjectorWorker(
            WorkerConfig(
                nats_url=nats_url,
                partition=partition,
                cache_learners=settings.projector.cache_learners,
            ),
            pool,
            lambda: db.connect(database_url, role=PROJECTOR_ROLE),
            ledger,
            metrics,
            committed,
        )
        for partition in settings.projector.worker_partitions
    ]
    replicas = settings.infra.nats_stream_replicas
    outbox = OutboxPublisher(
        pool,
        OutboxConfig(
            table="projector.outbox",
            stream=CREDIT_STREAM,
            declare=lambda js: declare_credit_stream(js, replicas),
            nats_url=nats_url,
            name="projector-outbox",
            source=CE_SOURCE,
        ),
        committed,
        metrics.published,
    )
    return workers, outbox


FRONT_DOOR = FrontDoor(
    title="Credit ledger projector",
    summary="Each learner's credit bank and progress towards qualifications, live or as of any point.",
    tags=(
        ("/v1/learners", "learners"),
        ("/v1/qualifications", "qualifications"),
        ("/health", "operations"),
        ("/ready", "operations"),
        ("/metrics", "operations"),
    ),
)

ROUTES = [
    queries.get_credit_bank,
    queries.get_progress,
    queries.get_eligible,
    ops.health,
    ops.ready,
    ops.metrics,
]


def create_projector_app(settings: Settings, *, run_worker: bool = True) -> Litestar:
    database_url, api_key = settings.infra.database_url, settings.projector.api_key
    nats_url = settings.infra.nats_url
    if database_url is None:
        raise ValueError("the projector needs DATABASE_URL")
    if api_key is None:
        raise ValueError("the projector needs CREDIT_LEDGER_PROJECTOR_API_KEY (an auditor key)")
    if run_worker and nats_url is None:
        raise ValueError("the projector's worker needs NATS_URL")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        metrics = ProjectorMetrics()
        pool = await db.create_pool(database_url, settings.infra.db_pool_size, role=PROJECTOR_ROLE)
        ledger = LedgerClient(settings.ledger.url, api_key)
        workers: list[ProjectorWorker] = []
        outbox = None
        if run_worker and nats_url is not None:
            workers, outbox = _background(settings, database_url, nats_url, pool, ledger, metrics)
        app.state.runtime = ProjectorRuntime(
            pool=pool,
            key_cache=KeyCache(ledger, settings.http.api_key_cache_ttl_s),
            metrics=metrics,
            ledger=ledger,
            partitions=settings.projector.partitions,
            workers=workers,
            times=LogTimes(ledger),
            learner_id_pattern=re.compile(settings.ledger.learner_id_pattern),
        )
        try:
            async with running(*workers, outbox):
                settle_long_lived()
                yield
        finally:
            await ledger.close()
            await pool.close()

    return service_app(
        routes=ROUTES,
        front_door=FRONT_DOOR,
        lifespan=lifespan,
        openapi_config=OpenAPIConfig(
            title="Credit ledger projector",
            version="1.0.0",
            path="/schema",
            description="Credit banks, qualification progress and eligibility, live or as of any point.",
            components=api_key_components(),
            security=REQUIRES_API_KEY,
        ),
        middleware=[ledger_key_auth(exclude=PUBLIC_PATHS)],
    )
