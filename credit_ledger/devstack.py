"""``credit-ledger dev``: the whole system on one machine, with nothing but Python.

Starts an embedded PostgreSQL and nats-server unless DATABASE_URL / NATS_URL are set
(data kept in the data directory between runs; ``--fresh`` starts over), applies the
migrations, declares the JetStream streams, runs every service that exists, loads the demo
catalog and prints the base URL and an admin key. Ctrl-C stops everything, children
included.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from pathlib import Path

import msgspec
import structlog
import uvicorn

from credit_ledger.demo_catalog import demo_events
from credit_ledger.infra import apply_migrations, declare_streams, embedded_servers
from credit_ledger.settings import Settings
from proto.envelope import Actor, Role
from proto.events import stream_of
from services.ledger.api_keys import create_key
from services.ledger.app import create_app
from services.ledger.errors import Refused
from services.ledger.runtime import LedgerRuntime
from services.ledger.write_model import Candidate

log = structlog.get_logger(__name__)
ADMIN_KEY_FILE = "admin.key"


def run_dev(settings: Settings, *, fresh: bool, load_demo: bool) -> int:
    if fresh and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_servers(settings.data_dir, settings.database_url, settings.nats_url) as endpoints:
        effective = msgspec.structs.replace(
            settings, database_url=endpoints.database_url, nats_url=endpoints.nats_url
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(effective, load_demo=load_demo))
    print("credit-ledger stopped.", file=sys.stderr)
    return 0


async def _serve(settings: Settings, *, load_demo: bool) -> None:
    if settings.database_url is None or settings.nats_url is None:
        raise RuntimeError("the dev stack resolves both URLs before serving")
    await apply_migrations(settings.database_url)
    await declare_streams(settings.nats_url, settings.nats_stream_replicas)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # surfaces the startup error
            return
        await asyncio.sleep(0.05)
    runtime: LedgerRuntime = app.state.runtime
    if load_demo:
        await load_demo_catalog(runtime)
    admin_key = await _admin_key(runtime, settings.data_dir / ADMIN_KEY_FILE)
    _announce(settings, admin_key)
    await serving


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
    outcomes = await runtime.committer.submit(candidates, atomic=True)
    refused = [o for o in outcomes if isinstance(o, Refused) and o.code != "batch_refused"]
    if refused:
        log.warning("demo_catalog_not_loaded", reasons=[o.detail for o in refused][:5])
    else:
        log.info("demo_catalog_loaded", events=len(outcomes))


async def _admin_key(runtime: LedgerRuntime, path: Path) -> str:
    """The admin key kept in the data directory, or a new one if it is gone or revoked."""
    if path.exists():
        token = path.read_text().strip()
        if await runtime.authenticator.authenticate(token) is not None:
            return token
    issued = await create_key(runtime.pool, role=Role.ADMIN, name="dev admin")
    path.write_text(issued.token + "\n")
    path.chmod(0o600)
    return issued.token


def _announce(settings: Settings, admin_key: str) -> None:
    base = settings.public_base_url
    print(
        "\n".join(
            [
                "",
                "credit-ledger is running.",
                f"  base URL   {base}",
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
