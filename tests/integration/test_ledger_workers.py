"""``credit-ledger serve`` as several processes: HTTP workers on one port, the relay and the
tree builder each in a process of its own, and one ``/metrics`` for all of them.

Writers spread over two worker processes still get one gap-free, commit-ordered,
hash-chained log (the append lock is PostgreSQL's, not a process's), every event reaches
JetStream once and in order through the relay process, and any worker's ``/metrics``
counts what every process did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_ledger.embedded.processes import free_port
from tests.integration.test_concurrent_appends import EVENTS_PER_WRITER, _read_all, _writer
from tests.support.chain import first_mismatch
from tests.support.ledger import Ledger
from tests.support.servers import NatsHandle
from tests.support.tail import positions_of, read_jetstream

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
WRITERS = 16
CATALOG_EVENTS = 28


@pytest.fixture
async def served(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> AsyncIterator[tuple[Ledger, subprocess.Popen[bytes], Path]]:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats.url,
        "CREDIT_LEDGER_HTTP_HOST": "127.0.0.1",
        "CREDIT_LEDGER_HTTP_PORT": str(port),
        "CREDIT_LEDGER_WORKERS": str(WORKERS),
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    process = _spawn_serve(env, log_path)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        await _wait_ready(client, process, log_path)
        ledger = Ledger(client, database_url)
        await ledger.load_catalog()
        yield ledger, process, metrics_dir
    finally:
        await client.aclose()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


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
    deadline = time.monotonic() + 60
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


def _samples(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


async def test_writers_across_worker_processes_get_one_gap_free_chained_log(
    served: tuple[Ledger, subprocess.Popen[bytes], Path], nats: NatsHandle
) -> None:
    ledger, process, metrics_dir = served
    results = await asyncio.gather(*(_writer(ledger, w) for w in range(WRITERS)))
    total = CATALOG_EVENTS + WRITERS * EVENTS_PER_WRITER

    appended = sorted(p for positions in results for p in positions)
    assert appended == list(range(CATALOG_EVENTS + 1, total + 1))
    events = await _read_all(ledger)
    assert [e["position"] for e in events] == list(range(1, total + 1))
    assert first_mismatch(events) is None

    messages = await read_jetstream(nats.url, total)
    assert positions_of(messages) == list(range(1, total + 1))

    # Every process records into the shared directory: the 2 workers, the relay, the tree
    # builder (one file per process and kind of metric).
    pids = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}
    assert len(pids) >= WORKERS + 2, sorted(pids)
    # Any worker's /metrics counts the appends of both workers and the relay's publishes.
    deadline = time.monotonic() + 30
    while True:
        text = (await ledger.client.get("/metrics")).text
        published = _samples(text, "ledger_relay_published_total")
        if published >= total or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert published == total
    appends = _samples(text, "ledger_appends_total")
    assert appends == total  # the catalog batch and every single append, each counted once
    assert _samples(text, "ledger_head_position") == total

    # SIGTERM stops the whole tree: the supervisor, its workers, the relay, the builder.
    assert len(_living_in_group(process.pid)) >= WORKERS + 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    # multiprocessing's resource tracker (uvicorn spawns its workers) ends on its own, just
    # after the supervisor.
    deadline = time.monotonic() + 10
    while (living := _living_in_group(process.pid)) and time.monotonic() < deadline:  # noqa: ASYNC110 (a process, not a task, is awaited)
        await asyncio.sleep(0.1)
    assert living == [], [_command_line(pid) for pid in living]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"


def _living_in_group(group: int) -> list[int]:
    """Processes of the group that still run (an exited child not yet reaped by init is a
    zombie: it runs nothing)."""
    living = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgid = fields[0], int(fields[2])
        if pgid == group and state != "Z":
            living.append(int(stat.parent.name))
    return living
