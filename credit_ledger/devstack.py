"""``credit-ledger dev``: the whole system on one machine, with nothing but Python.

Starts an embedded PostgreSQL and nats-server unless DATABASE_URL / NATS_URL are set
(data kept in the data directory between runs; ``--fresh`` starts over), applies the
migrations, declares the JetStream streams, loads the demo catalog, makes the keys, runs
the ledger as ``credit-ledger serve`` does (``DEV_LEDGER_WORKERS`` HTTP processes, the
relay and the tree builder each a process of its own), the projector and the issuer in
this process, and prints the base URL and an admin key. Ctrl-C stops everything, children
included. The embedded servers also end when this process dies without stopping them
(kill -9: see ``die_with_parent``), and a leftover from an earlier run is stopped on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import msgspec
import structlog
import uvicorn
from litestar import Litestar

from credit_ledger import stack_file
from credit_ledger.demo_catalog import demo_events
from credit_ledger.embedded.processes import die_with_parent
from credit_ledger.infra import apply_migrations, declare_streams, embedded_servers
from credit_ledger.stack_file import ADMIN_KEY_FILE, ISSUER_KEY_FILE, PROJECTOR_KEY_FILE
from proto.envelope import Actor, Role
from proto.events import stream_of
from services.common import db
from services.common.lifecycle import running
from services.common.settings import IssuerSettings, ProjectorSettings, Settings
from services.issuer.app import create_issuer_app
from services.issuer.credentials.keys import ensure_dev_keys, ensure_dev_salt
from services.ledger.api_keys import KeyAuthenticator, create_key
from services.ledger.append import GroupCommitter
from services.ledger.audit.signing import create_key_file
from services.ledger.errors import Refused
from services.ledger.event_store import PostgresEventStore
from services.ledger.metrics import LedgerMetrics
from services.ledger.write_model import Candidate
from services.projector import store as projector_store
from services.projector.app import PROJECTOR_ROLE, create_projector_app
from services.projector.rebuild import RebuildSpec, rebuild_reporting

log = structlog.get_logger(__name__)
TREE_SIGNING_KEY_FILE = "tree-signing-key.pem"
# HTTP worker processes of the dev stack's ledger (CREDIT_LEDGER_WORKERS overrides it).
DEV_LEDGER_WORKERS = 2
LEDGER_START_TIMEOUT_S = 60.0
LEDGER_STOP_TIMEOUT_S = 15.0


def run_dev(settings: Settings, *, fresh: bool, load_demo: bool) -> int:
    infra = settings.infra
    if fresh and infra.data_dir.exists():
        shutil.rmtree(infra.data_dir)
    infra.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_servers(infra.data_dir, infra.database_url, infra.nats_url) as endpoints:
        effective = msgspec.structs.replace(
            settings,
            infra=msgspec.structs.replace(
                infra, database_url=endpoints.database_url, nats_url=endpoints.nats_url
            ),
            audit=msgspec.structs.replace(
                settings.audit, tree_signing_key_file=tree_signing_key(settings)
            ),
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(effective, load_demo=load_demo))
    print("credit-ledger stopped.", file=sys.stderr)
    return 0


def tree_signing_key(settings: Settings) -> Path:
    """The configured tree-signing key, or one kept in the data directory (made once:
    heads signed with it stay verifiable for as long as the data is kept)."""
    if settings.audit.tree_signing_key_file is not None:
        return settings.audit.tree_signing_key_file
    path = settings.infra.data_dir / TREE_SIGNING_KEY_FILE
    if not path.exists():
        create_key_file(path)
    return path


async def _serve(settings: Settings, *, load_demo: bool) -> None:
    infra, host = settings.infra, settings.http.host
    if infra.database_url is None or infra.nats_url is None:
        raise RuntimeError("the dev stack resolves both URLs before serving")
    await apply_migrations(infra.database_url)
    await declare_streams(infra.nats_url, infra.nats_stream_replicas)
    async with _bootstrap(settings) as ledger:
        if load_demo:
            await load_demo_catalog(ledger)
        admin_key = await _admin_key(ledger, infra.data_dir / ADMIN_KEY_FILE)
        projector = settings.projector
        if projector.api_key is None:
            key = await _service_key(
                ledger, infra.data_dir / PROJECTOR_KEY_FILE, Role.AUDITOR, "projector"
            )
            projector = msgspec.structs.replace(projector, api_key=key)
        issuer = await _issuer_settings(settings, ledger)
    ledger_process = await _start_ledger(settings)
    try:
        await _lay_out_read_model(settings, projector)
        projector_app = create_projector_app(msgspec.structs.replace(settings, projector=projector))
        projector_server = _server(projector_app, host, projector.port)
        projector_task = asyncio.create_task(projector_server.serve())
        await _started(projector_server, projector_task)
        issuer_app = create_issuer_app(msgspec.structs.replace(settings, issuer=issuer))
        issuer_server = _server(issuer_app, host, issuer.port)
        issuer_task = asyncio.create_task(issuer_server.serve())
        await _started(issuer_server, issuer_task)
        _announce(settings, admin_key, issuer.port)
        stack_file.announce(infra.data_dir, _stack(settings, projector.port, issuer.port))
        ledger_exit = asyncio.create_task(ledger_process.wait())
        await asyncio.gather(ledger_exit, projector_task, issuer_task)
    finally:
        stack_file.withdraw(infra.data_dir, os.getpid())
        await _stop_ledger(ledger_process)


@dataclass(frozen=True)
class _Bootstrap:
    """What the dev stack needs of the ledger before it serves: appends (the demo catalog)
    and keys."""

    pool: asyncpg.Pool
    store: PostgresEventStore
    authenticator: KeyAuthenticator


@contextlib.asynccontextmanager
async def _bootstrap(settings: Settings) -> AsyncIterator[_Bootstrap]:
    database_url = settings.infra.database_url
    if database_url is None:
        raise RuntimeError("the dev stack resolves the database URL first")
    pool = await db.create_pool(database_url, 2)
    committer = GroupCommitter.from_settings(pool, settings.ledger, LedgerMetrics())
    try:
        async with running(committer):
            yield _Bootstrap(
                pool,
                PostgresEventStore(pool, committer),
                KeyAuthenticator(pool, settings.http.api_key_cache_ttl_s),
            )
    finally:
        await pool.close()


async def _start_ledger(settings: Settings) -> asyncio.subprocess.Process:
    """``credit-ledger serve`` (its HTTP workers, the relay, the tree builder) on the
    embedded servers, until its /ready answers."""
    infra = settings.infra
    overrides = {
        "DATABASE_URL": str(infra.database_url),
        "NATS_URL": str(infra.nats_url),
        "CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": str(settings.audit.tree_signing_key_file),
        "CREDIT_LEDGER_WORKERS": os.environ.get("CREDIT_LEDGER_WORKERS", str(DEV_LEDGER_WORKERS)),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "credit_ledger",
        "serve",
        env={**os.environ, **overrides},
        stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    url = f"http://{settings.http.host}:{settings.http.port}/ready"
    deadline = time.monotonic() + LEDGER_START_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the ledger exited with {process.returncode} on start")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return process
            if time.monotonic() > deadline:
                await _stop_ledger(process)
                raise RuntimeError(f"the ledger did not answer {url} in time")
            await asyncio.sleep(0.1)


async def _stop_ledger(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), LEDGER_STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _issuer_settings(settings: Settings, ledger: _Bootstrap) -> IssuerSettings:
    """The issuer's settings, with a key, a signing key file and a salt kept in the data dir
    for each one not configured."""
    issuer, data_dir = settings.issuer, settings.infra.data_dir
    return msgspec.structs.replace(
        issuer,
        api_key=issuer.api_key
        or await _service_key(ledger, data_dir / ISSUER_KEY_FILE, Role.ISSUER, "issuer"),
        key_file=issuer.key_file or ensure_dev_keys(data_dir),
        learner_hash_salt=issuer.learner_hash_salt or ensure_dev_salt(data_dir),
    )


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


async def load_demo_catalog(ledger: _Bootstrap) -> None:
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
    outcomes = await ledger.store.append(candidates, atomic=True)
    refused = [o for o in outcomes if isinstance(o, Refused) and o.code != "batch_refused"]
    if refused:
        log.warning("demo_catalog_not_loaded", reasons=[o.detail for o in refused][:5])
    else:
        log.info("demo_catalog_loaded", events=len(outcomes))


async def _lay_out_read_model(settings: Settings, projector: ProjectorSettings) -> None:
    """A data directory whose read model has another number of partitions (one made before
    partitions, say) is rebuilt in this one's, as an operator would (docs/architecture.md)."""
    database_url, api_key = settings.infra.database_url, projector.api_key
    if database_url is None or api_key is None:
        raise RuntimeError("the dev stack resolves the projector's database and key first")
    conn = await asyncpg.connect(database_url)
    try:
        layouts = {p.count for p in await projector_store.checkpoints(conn)}
    finally:
        await conn.close()
    if layouts - {projector.partitions}:
        print(
            f"laying the read model out in {projector.partitions} partitions (a rebuild)",
            file=sys.stderr,
        )
        spec = RebuildSpec(database_url, settings.ledger.url, api_key, PROJECTOR_ROLE)
        await rebuild_reporting(spec, projector.partitions)


async def _admin_key(ledger: _Bootstrap, path: Path) -> str:
    return await _service_key(ledger, path, Role.ADMIN, "dev admin")


async def _service_key(ledger: _Bootstrap, path: Path, role: Role, name: str) -> str:
    """A key kept in the data directory, or a new one if it is gone or revoked."""
    if path.exists():
        token = path.read_text().strip()
        if await ledger.authenticator.authenticate(token) is not None:
            return token
    issued = await create_key(ledger.pool, role=role, name=name)
    path.write_text(issued.token + "\n")
    path.chmod(0o600)
    return issued.token


def _stack(settings: Settings, projector_port: int, issuer_port: int) -> stack_file.DevStack:
    host, infra = settings.http.host, settings.infra
    return stack_file.DevStack(
        pid=os.getpid(),
        database_url=str(infra.database_url),
        nats_url=str(infra.nats_url),
        ledger_url=settings.http.public_base_url,
        projector_url=f"http://{host}:{projector_port}",
        issuer_url=f"http://{host}:{issuer_port}",
    )


def _announce(settings: Settings, admin_key: str, issuer_port: int) -> None:
    base, host, infra = settings.http.public_base_url, settings.http.host, settings.infra
    print(
        "\n".join(
            [
                "",
                "credit-ledger is running.",
                f"  base URL   {base}",
                f"  projector  http://{host}:{settings.projector.port} (credit banks, progress)",
                f"  issuer     http://{host}:{issuer_port} (awards, credentials, /verify)",
                f"  API docs   {base}/schema/swagger",
                f"  admin key  {admin_key}",
                f"  database   {infra.database_url}",
                f"  NATS       {infra.nats_url}",
                f"  data dir   {infra.data_dir}",
                "Press Ctrl-C to stop.",
                "",
            ]
        ),
        file=sys.stderr,
        flush=True,
    )
