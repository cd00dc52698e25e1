"""The projector as an operator runs it: ``credit-ledger projector serve`` in its own
process, so a test can SIGKILL it mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import httpx

from credit_ledger.embedded.processes import free_port, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 15.0


class ProjectorProcess:
    """One projector subprocess at a time; ``start`` again after ``kill`` or ``terminate``."""

    def __init__(
        self,
        *,
        database_url: str,
        nats_url: str,
        ledger_url: str,
        api_key: str,
        log_path: Path,
        **env: str,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CREDIT_LEDGER_LEDGER_URL": ledger_url,
            "CREDIT_LEDGER_PROJECTOR_API_KEY": api_key,
            "CREDIT_LEDGER_PROJECTOR_PORT": str(self.port),
            "CREDIT_LEDGER_HTTP_HOST": "127.0.0.1",
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the projector process is not running")
        return self.process.pid

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start ``credit-ledger projector serve`` and wait until its /ready answers."""
        process = self._spawn()
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"the projector exited with {process.returncode}: {self.log_tail()}"
                )
            try:
                if (await self.client.get("/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the projector did not get ready: {self.log_tail()}")
            await asyncio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("a projector process is already running")
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "credit_ledger.cli", "projector", "serve"],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self.process

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever the projector was doing."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self._closed()

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops it (graceful shutdown)."""
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM, STOP_TIMEOUT_S)
        self._closed()

    def _closed(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def aclose(self) -> None:
        """Always safe: kills a process still running, closes the client."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
            self._closed()
        finally:
            await self.client.aclose()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    async def checkpoint(self) -> int:
        body = (await self.client.get("/ready")).json()
        return int(body["checkpoint"])

    async def partition_checkpoints(self) -> dict[int, int]:
        body = (await self.client.get("/ready")).json()
        return {p["partition"]: p["checkpoint"] for p in body["partitions"]}

    async def leads(self, partition: int) -> bool:
        """Whether this process's worker for ``partition`` holds its lead."""
        body = (await self.client.get("/ready")).json()
        return any(p["partition"] == partition and p["leader"] for p in body["partitions"])

    async def wait_leads(self, partition: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not await self.leads(partition):
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"the projector exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"partition {partition} not led here: {self.log_tail()}")
            await asyncio.sleep(0.05)

    async def wait_checkpoint(self, position: int, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while (done := await self.checkpoint()) < position:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"the projector exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"projector at {done}, waited for {position}")
            await asyncio.sleep(0.05)
        return done

    async def get_json(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        if response.status_code != 200:
            raise AssertionError(f"GET {path}: {response.status_code} {response.text}")
        return response.json()


async def kill_once_past(
    process: ProjectorProcess, checkpoint: Callable[[], Awaitable[int]], past: int
) -> int:
    """SIGKILL ``process`` as soon as ``checkpoint()`` is past ``past``; returns the
    checkpoint it was killed at."""
    deadline = time.monotonic() + 60
    while True:
        done = await checkpoint()
        if done > past:
            process.kill()
            return done
        if time.monotonic() > deadline:
            raise AssertionError(f"the projector stayed at {done}: {process.log_tail()}")
        await asyncio.sleep(0.01)
