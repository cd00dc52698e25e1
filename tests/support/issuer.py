"""The issuer for tests: its schema, keys, an in-process server, subprocess replicas, and the
OB 3.0 schema validator; plus histories for the pure core's tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from jsonschema import Draft201909Validator

from credit_ledger.embedded.processes import free_port, wait_for_port
from credit_ledger.migrations import discover
from proto.envelope import Role
from services.common.settings import load_settings
from services.issuer.app import create_issuer_app
from services.issuer.credentials.keys import ensure_dev_keys
from services.issuer.history import LearnerHistory, Recorded
from tests.support.domain_examples import LearnerLog
from tests.support.factories import NSTI
from tests.support.ledger import Ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
OB_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "ob_v3p0_achievementcredential.schema.json"
SALT = "test-salt-0123456789abcdef"
CERTIFICATE = "ADV-CNC-MACHINING"
DIPLOMA = "DIP-CNC-MFG"
CAM = "CNC-CAM"
CNC_MODULES = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
WAIT_S = 30.0


# --- the pure core's inputs ---------------------------------------------------------------


def history_of(log: LearnerLog) -> LearnerHistory:
    """A learner log as the ledger's stream would return it (versions 1, 2, 3, ...)."""
    return LearnerHistory(
        log.learner_id,
        tuple(
            Recorded(event, position, at, version, str(uuid.uuid4()))
            for version, (event, position, at) in enumerate(log.entries, start=1)
        ),
    )


def ob_validator() -> Draft201909Validator:
    """The OB 3.0 AchievementCredential schema, with date-time formats checked too."""
    schema = json.loads(OB_SCHEMA.read_text())
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


def schema_errors(credential: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in ob_validator().iter_errors(credential)
    ]


# --- the database -------------------------------------------------------------------------


async def apply_issuer_schema(database_url: str) -> None:
    """Apply services/issuer/migrations unless the migrated template already holds them
    (once the lead lists "services.issuer" in MIGRATION_PACKAGES, it does)."""
    conn = await asyncpg.connect(database_url)
    try:
        done = {
            r["key"] for r in await conn.fetch("SELECT key FROM public.credit_ledger_migrations")
        }
        for migration in discover(("services.issuer",)):
            if migration.key in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO public.credit_ledger_migrations (key, checksum) VALUES ($1, $2)",
                    migration.key,
                    migration.checksum,
                )
    finally:
        await conn.close()


async def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# --- the catalog a diploma needs ----------------------------------------------------------


async def define_diploma(ledger: Ledger) -> None:
    """CNC-CAM (level 5, 90 h) and a diploma stacking on the certificate: 12 + 3 credits."""
    for event in (
        {
            "type": "MicroCredentialDefined",
            "code": CAM,
            "version": 1,
            "title": "CAD/CAM Programming",
            "sector": "CAPITAL-GOODS",
            "level": "5",
            "notional_hours": 90,
            "learning_outcomes": ["Generate tool paths from CAD models"],
        },
        {
            "type": "QualificationDefined",
            "code": DIPLOMA,
            "version": 1,
            "title": "Diploma in CNC Manufacturing",
            "description": "Advanced CNC Machining plus CAD/CAM programming.",
            "sector": "CAPITAL-GOODS",
            "level": "5",
            "required": [CERTIFICATE, CAM],
            "min_credits": 15,
        },
    ):
        response = await ledger.post("/v1/events", {"event_id": str(uuid.uuid4()), "event": event})
        if response.status_code != 201:
            raise AssertionError(f"{event['code']}: {response.status_code} {response.text}")


async def pass_modules(
    ledger: Ledger, learner_id: str, codes: tuple[str, ...] = CNC_MODULES, day: str = "2026-03-01"
) -> dict[str, str]:
    """Record passes at NSTI-CHENNAI; returns each code's assessment id."""
    from tests.support.projector import record_pass

    return {code: (await record_pass(ledger, learner_id, NSTI, code, day))[0] for code in codes}


async def revoke_pass(ledger: Ledger, learner_id: str, assessment_id: str) -> None:
    from tests.support.factories import assessment_revoked

    event = assessment_revoked(assessment_id=assessment_id, learner_id=learner_id)
    response = await ledger.append(event, NSTI)
    if response.status_code != 201:
        raise AssertionError(f"revocation refused: {response.status_code} {response.text}")


async def awards_in_log(ledger: Ledger, learner_id: str) -> list[dict[str, Any]]:
    body = (await ledger.get(f"/v1/streams/learner-{learner_id}", limit=1000)).json()
    return [
        e for e in body["events"] if e["type"] in ("QualificationAwarded", "QualificationRevoked")
    ]


# --- one issuer in the test's event loop ----------------------------------------------------


def issuer_env(
    ledger: Ledger,
    database_url: str,
    nats_url: str,
    api_key: str,
    key_file: Path,
    port: int,
    public_url: str,
    **overrides: str,
) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "CREDIT_LEDGER_LEDGER_URL": ledger.base_url,
        "CREDIT_LEDGER_HTTP_HOST": "127.0.0.1",
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
        "CREDIT_LEDGER_ISSUER_API_KEY": api_key,
        "CREDIT_LEDGER_ISSUER_KEY_FILE": str(key_file),
        "CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT": SALT,
        "CREDIT_LEDGER_ISSUER_PORT": str(port),
        "CREDIT_LEDGER_ISSUER_PUBLIC_URL": public_url,
        "CREDIT_LEDGER_ISSUER_ACK_WAIT_S": "3",
        "CREDIT_LEDGER_ISSUER_RETRY_BACKOFF_MAX_S": "1",
        **overrides,
    }


class Issuer:
    """The HTTP client of a running issuer, with the ledger's keys for authentication."""

    def __init__(self, client: httpx.AsyncClient, ledger: Ledger, key_file: Path) -> None:
        self.client = client
        self.ledger = ledger
        self.key_file = key_file

    async def credentials(self, learner_id: str, role: Role = Role.AUDITOR) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/v1/learners/{learner_id}/credentials", headers=await self.ledger.headers(role)
        )
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}")
        found: list[dict[str, Any]] = response.json()["credentials"]
        return found

    async def wait_for(
        self,
        learner_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float = WAIT_S,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.credentials(learner_id)
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"credentials of {learner_id} never got there: {found}")
            await asyncio.sleep(0.05)

    async def verify(self, token: str) -> dict[str, Any]:
        response = await self.client.post("/v1/verify", json={"credential": token})
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}")
        report: dict[str, Any] = response.json()
        return report


def by_code(credentials: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [c for c in credentials if c["qualification_code"] == code]


def holds(*codes: str, active: bool = True) -> Callable[[list[dict[str, Any]]], bool]:
    """Every code has a credential whose status is active (or revoked)."""
    wanted = "active" if active else "revoked"
    return lambda found: all(any(c["status"] == wanted for c in by_code(found, q)) for q in codes)


@contextlib.asynccontextmanager
async def _serve_on(app: Any, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the issuer stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_issuer(
    ledger: Ledger, database_url: str, nats_url: str, key_dir: Path, **overrides: str
) -> AsyncIterator[Issuer]:
    await apply_issuer_schema(database_url)
    key_file = ensure_dev_keys(key_dir)
    port = free_port()
    env = issuer_env(
        ledger,
        database_url,
        nats_url,
        await ledger.key(Role.ISSUER),
        key_file,
        port,
        f"http://127.0.0.1:{port}",
        **overrides,
    )
    app = create_issuer_app(load_settings(env))
    async with (
        _serve_on(app, port) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        yield Issuer(client, ledger, key_file)


# --- issuer replicas as processes --------------------------------------------------------------


class IssuerProcess:
    """``python -m services.issuer serve`` in a process of its own."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.issuer", "serve"],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_listening(self, timeout_s: float = WAIT_S) -> None:
        wait_for_port("127.0.0.1", self.port, self.process, timeout_s)

    async def exited(self, timeout_s: float = WAIT_S) -> int:
        deadline = time.monotonic() + timeout_s
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"issuer on {self.port} did not exit: {self.log_tail()}")
            await asyncio.sleep(0.05)
        return code

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


@contextlib.contextmanager
def issuer_processes(
    envs: list[dict[str, str]], log_dir: Path, label: str = "issuer"
) -> Iterator[list[IssuerProcess]]:
    processes = [
        IssuerProcess(env, int(env["CREDIT_LEDGER_ISSUER_PORT"]), log_dir / f"{label}-{i}.log")
        for i, env in enumerate(envs)
    ]
    try:
        for process in processes:
            process.wait_listening()
        yield processes
    finally:
        for process in processes:
            process.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


CLR_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "clr_v2p0_clrcredential.schema.json"


def clr_schema_errors(transcript: dict[str, Any]) -> list[str]:
    """Where a ClrCredential breaks the official CLR 2.0 schema, date-time formats included."""
    validator = Draft201909Validator(
        json.loads(CLR_SCHEMA.read_text()), format_checker=Draft201909Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(transcript)
    ]
