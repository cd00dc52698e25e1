"""``credit-ledger dev``: the whole system on one machine, with nothing but Python.

Starts an embedded PostgreSQL and nats-server unless DATABASE_URL / NATS_URL are set
(data kept in the data directory between runs; ``--fresh`` starts over), applies the
migrations, declares the JetStream streams, runs every service that exists, loads the demo
catalog and prints the base URL and an admin key. Ctrl-C stops everything, children
included. The embedded servers also end when this process dies without stopping them
(kill -9: see ``die_with_parent``), and a leftover from an earlier run is stopped on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from pathlib import Path

import msgspec
import structlog
import uvicorn
from litestar import Litestar

from credit_ledger.demo_catalog import demo_events
from credit_ledger.infra import apply_migrations, declare_streams, embedded_servers
from proto.envelope import Actor, Role
from proto.events import stream_of
from services.common.settings import Settings
from services.issuer.app import create_issuer_app
from services.issuer.credentials.keys import ensure_dev_keys
from services.issuer.settings import IssuerSettings, ensure_dev_salt, load_issuer_settings
from services.ledger.api_keys import create_key
from services.ledger.app import create_app
from services.ledger.audit.signing import create_key_file
from services.ledger.errors import Refused
from services.ledger.runtime import LedgerRuntime
from services.ledger.write_model import Candidate
from services.projector.app import create_projector_app

log = structlog.get_logger(__name__)
ADMIN_KEY_FILE = "admin.key"
TREE_SIGNING_KEY_FILE = "tree-signing-key.pem"
PROJECTOR_KEY_FILE = "projector.key"
ISSUER_KEY_FILE = "issuer.key"


def run_dev(settings: Settings, *, fresh: bool, load_demo: bool) -> int:
    if fresh and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_servers(settings.data_dir, settings.database_url, settings.nats_url) as endpoints:
        effective = msgspec.structs.replace(
            settings,
            database_url=endpoints.database_url,
            nats_url=endpoints.nats_url,
            tree_signing_key_file=tree_signing_key(settings),
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(effective, load_demo=load_demo))
    print("credit-ledger stopped.", file=sys.stderr)
    return 0


def tree_signing_key(settings: Settings) -> Path:
    """The configured tree-signing key, or one kept in the data directory (made once:
    heads signed with it stay verifiable for as long as the data is kept)."""
    if settings.tree_signing_key_file is not None:
        return settings.tree_signing_key_file
    path = settings.data_dir / TREE_SIGNING_KEY_FILE
    if not path.exists():
        create_key_file(path)
    return path


async def _serve(settings: Settings, *, load_demo: bool) -> None:
    if settings.database_url is None or settings.nats_url is None:
        raise RuntimeError("the dev stack resolves both URLs before serving")
    await apply_migrations(settings.database_url)
    await declare_streams(settings.nats_url, settings.nats_stream_replicas)
    ledger_app = create_app(settings)
    ledger_server = _server(ledger_app, settings.http_host, settings.http_port)
    ledger_task = asyncio.create_task(ledger_server.serve())
    await _started(ledger_server, ledger_task)
    runtime: LedgerRuntime = ledger_app.state.runtime
    if load_demo:
        await load_demo_catalog(runtime)
    admin_key = await _admin_key(runtime, settings.data_dir / ADMIN_KEY_FILE)
    projector_key = settings.projector_api_key or await _service_key(
        runtime, settings.data_dir / PROJECTOR_KEY_FILE, Role.AUDITOR, "projector"
    )
    projector_settings = msgspec.structs.replace(settings, projector_api_key=projector_key)
    projector_server = _server(
        create_projector_app(projector_settings), settings.http_host, settings.projector_port
    )
    projector_task = asyncio.create_task(projector_server.serve())
    await _started(projector_server, projector_task)
    issuer_settings = await _issuer_settings(settings, runtime)
    issuer_server = _server(
        create_issuer_app(settings, issuer_settings), settings.http_host, issuer_settings.port
    )
    issuer_task = asyncio.create_task(issuer_server.serve())
    await _started(issuer_server, issuer_task)
    _announce(settings, admin_key, issuer_settings.port)
    await asyncio.gather(ledger_task, projector_task, issuer_task)


async def _issuer_settings(settings: Settings, runtime: LedgerRuntime) -> IssuerSettings:
    """The issuer's settings, with a key, a signing key file and a salt kept in the data dir."""
    env = dict(os.environ)
    env.setdefault(
        "CREDIT_LEDGER_ISSUER_API_KEY",
        await _service_key(runtime, settings.data_dir / ISSUER_KEY_FILE, Role.ISSUER, "issuer"),
    )
    env.setdefault("CREDIT_LEDGER_ISSUER_KEY_FILE", str(ensure_dev_keys(settings.data_dir)))
    env.setdefault("CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT", ensure_dev_salt(settings.data_dir))
    return load_issuer_settings(env)


def _server(app: Litestar, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            await task  # surfaces the start-up error
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.05)


async def load_demo_catalog(runtime: LedgerRuntime) -> None:
    actor = Actor(role=Role.ADMIN, key_id="demo-catalog")
    candidates = [
        Candidate(
            event_id=event_id,
            event=event,
            stream=stream_of(event),
            expected_version=None,
            actor=actor,
            request_id="demo-catalog",
        )
        for event_id, event in demo_events()
    ]
    outcomes = await runtime.store.append(candidates, atomic=True)
    refused = [o for o in outcomes if isinstance(o, Refused) and o.code != "batch_refused"]
    if refused:
        log.warning("demo_catalog_not_loaded", reasons=[o.detail for o in refused][:5])
    else:
        log.info("demo_catalog_loaded", events=len(outcomes))


async def _admin_key(runtime: LedgerRuntime, path: Path) -> str:
    return await _service_key(runtime, path, Role.ADMIN, "dev admin")


async def _service_key(runtime: LedgerRuntime, path: Path, role: Role, name: str) -> str:
    """A key kept in the data directory, or a new one if it is gone or revoked."""
    if path.exists():
        token = path.read_text().strip()
        if await runtime.authenticator.authenticate(token) is not None:
            return token
    issued = await create_key(runtime.pool, role=role, name=name)
    path.write_text(issued.token + "\n")
    path.chmod(0o600)
    return issued.token


def _announce(settings: Settings, admin_key: str, issuer_port: int) -> None:
    base = settings.public_base_url
    print(
        "\n".join(
            [
                "",
                "credit-ledger is running.",
                f"  base URL   {base}",
                f"  projector  http://{settings.http_host}:{settings.projector_port} (credit banks, progress)",
                f"  issuer     http://{settings.http_host}:{issuer_port} (awards, credentials, /verify)",
                f"  API docs   {base}/schema/swagger",
                f"  admin key  {admin_key}",
                f"  database   {settings.database_url}",
                f"  NATS       {settings.nats_url}",
                f"  data dir   {settings.data_dir}",
                "Press Ctrl-C to stop.",
                "",
            ]
        ),
        file=sys.stderr,
        flush=True,
    )
