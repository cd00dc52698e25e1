"""The embedded servers and the services under test, each a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bench.harness.httpclient import RawHttpConnection
from credit_ledger.demo_catalog import demo_events
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import stop_process, wait_for_port

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
# Where start_server's ledger logs (every ledger of a run, one after another).
LEDGER_LOG = "ledger-server.log"


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, the repository on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env.update(extra or {})
    return env


def server_environment(
    database_url: str, nats_url: str, port: int, data_dir: Path
) -> dict[str, str]:
    """The ledger's environment: as ``credit-ledger serve`` reads it, quiet, relay on."""
    return python_env(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CREDIT_LEDGER_HTTP_HOST": HOST,
            "CREDIT_LEDGER_HTTP_PORT": str(port),
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            "CREDIT_LEDGER_RELAY_ENABLED": "true",
            "CREDIT_LEDGER_DATA_DIR": str(data_dir),
        }
    )


def start_service(
    args: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    *,
    what: str,
    timeout_s: float = SERVER_START_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """``python args...`` in a session of its own, logging to ``log_path``, until it listens."""
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_port(HOST, port, process, timeout_s)
    except Exception as exc:
        stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{what} did not start:\n{tail}") from exc
    return process


def start_server(
    workdir: Path, env: dict[str, str], port: int, module: str
) -> subprocess.Popen[bytes]:
    """The ledger (``module``, normally ``bench.serve_ledger``) until it listens."""
    return start_service(["-m", module], env, port, workdir / LEDGER_LOG, what="the ledger server")


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)


def pid_from(pid_file: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(pid_file.read_text().split()[0])
    return None


def embedded_roots(
    postgres: EmbeddedPostgres | None, nats_server: EmbeddedNats | None
) -> dict[str, int]:
    """The process trees of the embedded servers, for CPU accounting."""
    roots: dict[str, int] = {}
    if postgres is not None and (pid := pid_from(postgres.data_dir / "postmaster.pid")):
        roots["postgres"] = pid
    if nats_server is not None and (pid := pid_from(nats_server.store_dir / "nats-server.pid")):
        roots["nats"] = pid
    return roots


async def http_json(port: int, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    client = RawHttpConnection(HOST, port, token, timeout_s=30.0)
    try:
        status, body = await client.request(method, path)
    finally:
        await client.close()
    return status, msgspec.json.decode(body) if body else None


async def wait_until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    timeout_s: float,
    interval_s: float = 0.2,
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took (raises on timeout)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            if await check():
                return loop.time() - started
        if loop.time() - started > timeout_s:
            raise RuntimeError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)


def catalog_body() -> bytes:
    """The demo catalog as one POST /v1/events/batch body."""
    return msgspec.json.encode(
        {
            "events": [
                {"event_id": event_id, "event": msgspec.to_builtins(event)}
                for event_id, event in demo_events()
            ]
        }
    )


async def load_catalog(port: int, admin_token: str) -> None:
    """The demo catalog through the ledger's public append path, as one batch."""
    client = RawHttpConnection(HOST, port, admin_token)
    try:
        status, payload = await client.request("POST", "/v1/events/batch", catalog_body())
    finally:
        await client.close()
    if status != 201:
        raise RuntimeError(f"the demo catalog was not appended: {status} {payload[:500]!r}")


@dataclass
class LedgerServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        stop(self.process)
