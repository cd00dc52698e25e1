"""``credit-ledger serve`` as a real process tree, for tests of several ledger processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from credit_ledger.embedded.processes import free_port
from tests.support.ledger import Ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0


class ServeProcess:
    def __init__(self, ledger: Ledger, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.ledger = ledger
        self.process = process
        self.log_path = log_path

    def kill(self) -> None:
        """SIGKILL to the whole tree (the HTTP workers, the relay, the tree builder)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.asynccontextmanager
async def serve_process(
    database_url: str,
    nats_url: str,
    folder: Path,
    *,
    workers: int = 1,
    catalog: bool = True,
    **overrides: str,
) -> AsyncIterator[ServeProcess]:
    """``credit-ledger serve`` on a port of its own, until it is ready (a relay leading,
    in any process), with the demo catalog loaded unless ``catalog`` is False."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "CREDIT_LEDGER_HTTP_HOST": "127.0.0.1",
        "CREDIT_LEDGER_HTTP_PORT": str(port),
        "CREDIT_LEDGER_WORKERS": str(workers),
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        **overrides,
    }
    process = _spawn_serve(env, log_path)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    served = ServeProcess(Ledger(client, database_url), process, log_path)
    try:
        await _wait_ready(client, process, log_path)
        if catalog:
            await served.ledger.load_catalog()
        yield served
    finally:
        await client.aclose()
        served.kill()


def _spawn_serve(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "credit_ledger", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _wait_ready(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    """Until /ready answers with a relay leading (the relay runs in another process)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log_path.read_text()[-3000:]}")
        try:
            response = await client.get("/ready")
            if response.status_code == 200 and response.json()["relay_leader"]:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"serve did not get ready: {log_path.read_text()[-3000:]}")
