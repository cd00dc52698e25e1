"""The ledger service's composition root: one ``create_app()``, one lifespan."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from services.common import db
from services.common.collector import settle_long_lived
from services.common.http.front_door import FrontDoor
from services.common.http.service_app import service_app
from services.common.lifecycle import running
from services.common.logs import configure_logging
from services.common.openapi import REQUIRES_API_KEY, api_key_components
from services.common.settings import Settings, load_settings
from services.common.shared_metrics import process_stopped
from services.ledger.api_keys import KeyAuthenticator
from services.ledger.append import GroupCommitter
from services.ledger.audit import routes as audit_routes
from services.ledger.audit.runtime import create_audit_runtime
from services.ledger.event_store import PostgresEventStore
from services.ledger.fair_share import FairShare
from services.ledger.http import admin, events, learner_proof, ops, passbook_links, reads
from services.ledger.http.auth import bearer_auth
from services.ledger.http.fast_append import fast_append_layer
from services.ledger.http.problems import EXCEPTION_HANDLERS
from services.ledger.metrics import LedgerMetrics
from services.ledger.passbook_links import PassbookLinks
from services.ledger.relay import relay_from_settings
from services.ledger.runtime import LedgerRuntime
from services.ledger.upload.page import upload_routes
from services.ledger.upload.sessions import UploadSessions

API_VERSION = "1.0.0"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Credit ledger",
        version=API_VERSION,
        description=(
            "Append-only, hash-chained log of NSQF micro-credential events. "
            "Authenticate with `Authorization: Bearer API_KEY`, where API_KEY is a key the admin issued. Errors are RFC 9457 problem+json."
        ),
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
        components=api_key_components(),
        security=REQUIRES_API_KEY,
    )


FRONT_DOOR = FrontDoor(
    title="Credit ledger",
    summary=(
        "The append-only, hash-chained log of assessment passes, credentials and awards:"
        " post events, read the log, audit it."
    ),
    links=(("Upload results: CSV files of passes and credentials (institution staff)", "/upload"),),
    tags=(
        ("/v1/events", "events"),
        ("/v1/log", "log"),
        ("/v1/streams", "log"),
        ("/v1/head", "log"),
        ("/v1/catalog", "catalog"),
        ("/v1/institutions", "catalog"),
        ("/v1/admin", "admin"),
        ("/v1/whoami", "admin"),
        ("/v1/learners", "learners"),
        ("/v1/passbook-links", "learners"),
        ("/v1/audit", "audit"),
        ("/health", "operations"),
        ("/ready", "operations"),
        ("/metrics", "operations"),
    ),
)

ROUTES = [
    events.append_event,
    events.append_batch,
    events.get_event,
    reads.get_log,
    reads.get_log_ndjson,
    reads.get_stream,
    reads.get_head,
    admin.create_api_key,
    admin.get_api_keys,
    admin.delete_api_key,
    admin.get_institutions,
    admin.get_institution,
    admin.get_micro_credentials,
    admin.get_qualifications,
    admin.whoami,
    passbook_links.create_passbook_link,
    passbook_links.get_passbook_links,
    passbook_links.delete_passbook_link,
    learner_proof.get_learner_inclusion_proof,
    ops.health,
    ops.ready,
    ops.metrics,
    *audit_routes.ROUTES,
]


def create_app(
    settings: Settings, *, relay_enabled: bool | None = None, fast_append: bool = True
) -> Litestar:
    """The ledger's app. ``fast_append=False`` leaves every ``POST /v1/events`` to the
    Litestar route (the tests compare the two answers; see ``http/fast_append.py``)."""
    if settings.infra.database_url is None:
        raise ValueError("the ledger needs DATABASE_URL")
    database_url = settings.infra.database_url
    nats_url = settings.infra.nats_url
    run_relay = settings.ledger.relay_enabled if relay_enabled is None else relay_enabled
    if run_relay and nats_url is None:
        raise ValueError("the relay needs NATS_URL (or set CREDIT_LEDGER_RELAY_ENABLED=false)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        metrics = LedgerMetrics()
        pool = await db.create_pool(database_url, settings.infra.db_pool_size)
        ledger = settings.ledger
        fair_share = None
        if ledger.fair_share_events > 0:
            fair_share = FairShare(
                pool, share_events=ledger.fair_share_events, min_share=ledger.batch_events_max
            )
        committer = GroupCommitter.from_settings(pool, ledger, metrics, fair_share)
        relay = None
        if run_relay and nats_url is not None:
            relay = relay_from_settings(settings, database_url, nats_url, metrics)
        audit = create_audit_runtime(
            settings.audit, pool, metrics.registry, lambda: db.connect(database_url)
        )
        app.state.runtime = LedgerRuntime(
            settings=settings,
            pool=pool,
            committer=committer,
            store=PostgresEventStore(pool, committer),
            authenticator=KeyAuthenticator(pool, settings.http.api_key_cache_ttl_s),
            metrics=metrics,
            relay=relay,
            audit=audit,
            upload_sessions=UploadSessions(
                pool, dt.timedelta(hours=settings.ledger.upload_session_hours)
            ),
            passbook_links=PassbookLinks(pool, settings.http.api_key_cache_ttl_s),
        )
        await app.state.runtime.passbook_links.load_key()
        await audit.register_signing_key()
        try:
            async with running(fair_share, committer, relay, audit.builder):
                settle_long_lived()
                yield
        finally:
            await pool.close()
            process_stopped()

    return service_app(
        routes=[*ROUTES, *upload_routes(settings.ledger.upload_max_bytes)],
        front_door=FRONT_DOOR,
        lifespan=lifespan,
        openapi_config=openapi_config(),
        middleware=[bearer_auth()],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.http.request_body_max_bytes,
        inner_layer=fast_append_layer if fast_append else None,
    )


def app_from_environment() -> Litestar:
    """``create_app`` with the settings read from the environment: the factory each worker
    process of ``credit-ledger serve`` builds its app with."""
    settings = load_settings()
    configure_logging(settings.log.level, settings.log.format)
    return create_app(settings)
