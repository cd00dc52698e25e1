"""The issuer's composition root: its consumers, the outbox publisher and the HTTP API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from proto.issuer import ISSUER_STREAM
from services.common import db
from services.common.collector import settle_long_lived
from services.common.http.auth import KeyCache
from services.common.http.front_door import FrontDoor
from services.common.http.service_app import service_app
from services.common.lifecycle import running
from services.common.openapi import api_key_components
from services.common.outbox import OutboxConfig, OutboxPublisher
from services.common.settings import IssuerSettings, Settings
from services.issuer.credentials.achievement import IssuerProfile
from services.issuer.credentials.did import did_web
from services.issuer.credentials.keys import KeySet, key_set
from services.issuer.handlers import IssuerContext
from services.issuer.http import learners, ops, pages, passbook, public
from services.issuer.ledger_client import IssuerLedgerClient
from services.issuer.metrics import IssuerMetrics
from services.issuer.nats_setup import declare_issuer_stream
from services.issuer.passbook.reads import PassbookReads
from services.issuer.readers import CatalogReader, HistoryReader
from services.issuer.runtime import IssuerRuntime
from services.issuer.workers import WorkerConfig, consumer_workers

# The CloudEvents source of the messages this service publishes.
CE_SOURCE = "urn:credit-ledger:issuer"

ISSUER_ROLE = "credit_ledger_issuer"


def load_key_set(issuer: IssuerSettings) -> KeySet:
    if issuer.key_file is None:
        raise ValueError("the issuer needs CREDIT_LEDGER_ISSUER_KEY_FILE (a JWKS or PEM file)")
    return key_set(issuer.key_file, issuer.alg, issuer.signing_kid, issuer.public_url)


def _required(settings: Settings, run_workers: bool) -> tuple[str, str]:
    """The database URL and the issuer's key, or why the issuer cannot start."""
    database_url, issuer = settings.infra.database_url, settings.issuer
    if database_url is None:
        raise ValueError("the issuer needs DATABASE_URL")
    if issuer.api_key is None:
        raise ValueError("the issuer needs CREDIT_LEDGER_ISSUER_API_KEY (an issuer-role key)")
    if issuer.learner_hash_salt is None:
        raise ValueError("the issuer needs CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT")
    if run_workers and settings.infra.nats_url is None:
        raise ValueError("the issuer's consumers need NATS_URL")
    return database_url, issuer.api_key


def _outbox(
    settings: Settings, nats_url: str, pool: asyncpg.Pool, ctx: IssuerContext
) -> OutboxPublisher:
    replicas = settings.infra.nats_stream_replicas
    return OutboxPublisher(
        pool,
        OutboxConfig(
            table="issuer.outbox",
            stream=ISSUER_STREAM,
            declare=lambda js: declare_issuer_stream(js, replicas),
            nats_url=nats_url,
            name="issuer-outbox",
            source=CE_SOURCE,
        ),
        ctx.outbox_wake,
        ctx.metrics.published,
    )


def create_issuer_app(settings: Settings, *, run_workers: bool = True) -> Litestar:
    """The issuer, configured by ``settings.issuer`` and the shared concerns."""
    database_url, api_key = _required(settings, run_workers)
    issuer, nats_url = settings.issuer, settings.infra.nats_url
    keys = load_key_set(issuer)  # at start-up: a bad key file fails the deploy, not a request
    profile = IssuerProfile(id=did_web(issuer.public_url), name=issuer.name, url=issuer.public_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await db.create_pool(database_url, settings.infra.db_pool_size, role=ISSUER_ROLE)
        ledger = IssuerLedgerClient(settings.ledger.url, api_key)
        ctx = IssuerContext(
            settings=issuer,
            pool=pool,
            ledger=ledger,
            histories=HistoryReader(ledger, issuer.history_cache_learners),
            catalogs=CatalogReader(ledger),
            keys=keys,
            issuer=profile,
            metrics=IssuerMetrics(),
        )
        runtime = IssuerRuntime(
            ctx=ctx,
            key_cache=KeyCache(ledger, settings.http.api_key_cache_ttl_s),
            passbook=PassbookReads(settings.ledger.url, issuer.projector_url),
        )
        outbox = None
        if run_workers and nats_url is not None:
            config = WorkerConfig(
                nats_url=nats_url, stream_replicas=settings.infra.nats_stream_replicas
            )
            runtime.workers = consumer_workers(config, ctx)
            outbox = _outbox(settings, nats_url, pool, ctx)
        app.state.runtime = runtime
        try:
            async with running(*runtime.workers, outbox):
                settle_long_lived()
                yield
        finally:
            await runtime.passbook.close()
            await ledger.close()
            await pool.close()

    return service_app(
        routes=ROUTES, front_door=FRONT_DOOR, lifespan=lifespan, openapi_config=_openapi_config()
    )


FRONT_DOOR = FrontDoor(
    title="Credit ledger issuer",
    summary=(
        "Qualification awards as Open Badges 3.0 verifiable credentials: verify one, fetch"
        " the issuer's keys and status lists."
    ),
    tags=(
        ("/verify", "verification"),
        ("/v1/verify", "verification"),
        ("/v1/credentials", "credentials"),
        ("/v1/learners", "credentials"),
        ("/v1/status-lists", "status lists"),
        ("/.well-known", "keys"),
        ("/did.json", "keys"),
        ("/v1/keys", "keys"),
        ("/health", "operations"),
        ("/ready", "operations"),
        ("/metrics", "operations"),
    ),
    links=(("verify a credential", "/verify"),),
)

ROUTES = [
    public.jwks,
    public.did_json,
    public.public_key,
    public.status_list,
    public.credential_by_id,
    public.verify,
    pages.verify_page,
    pages.verify_submission,
    passbook.passbook,
    passbook.sign_out,
    passbook.revoke_link,
    passbook.transcript,
    passbook.inclusion_proof,
    passbook.grant_consent,
    passbook.withdraw_consent,
    learners.learner_credentials,
    ops.health,
    ops.ready,
    ops.metrics,
]


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Credit ledger issuer",
        version="1.0.0",
        path="/schema",
        description=(
            "Open Badges 3.0 credentials of qualification awards: public keys (JWKS,"
            " did:web), status lists, verification; learners' credentials with a ledger key."
        ),
        components=api_key_components(),
    )
