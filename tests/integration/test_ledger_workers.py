"""``credit-ledger serve`` as several processes: HTTP workers on one port, the relay and the
tree builder each in a process of its own, and one ``/metrics`` for all of them.

Writers spread over two worker processes still get one gap-free, commit-ordered,
hash-chained log (the append lock is PostgreSQL's, not a process's), every event reaches
JetStream once and in order through the relay process, and any worker's ``/metrics``
counts what every process did.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_concurrent_appends import EVENTS_PER_WRITER, _read_all, _writer
from tests.support.chain import first_mismatch
from tests.support.ledger import Ledger
from tests.support.serve_process import serve_process
from tests.support.servers import NatsHandle
from tests.support.tail import positions_of, read_jetstream

pytestmark = pytest.mark.integration

WORKERS = 2
WRITERS = 16
CATALOG_EVENTS = 28


@pytest.fixture
async def served(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> AsyncIterator[tuple[Ledger, subprocess.Popen[bytes], Path]]:
    async with serve_process(database_url, nats.url, tmp_path, workers=WORKERS) as ledger:
        yield ledger.ledger, ledger.process, tmp_path / "metrics"


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
