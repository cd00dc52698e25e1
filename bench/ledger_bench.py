"""The ledger's write-path benchmark: raw PostgreSQL limits against the ledger's HTTP appends.

    .venv/bin/python -m bench.ledger_bench [--quick] [--seconds N] [--repeat N] [--json PATH]

In one run, on one PostgreSQL (fsync on: durability is what is measured) and one
nats-server, with the real ledger app under uvicorn in its own process:

(a) raw single-row INSERT + commit from 32 connections (the per-event-commit limit);
(b) the ledger's HTTP single-event append with 64 concurrent clients;
(c) the ledger's HTTP batch append, 1000 events per request;
(d) raw COPY of as many rows as (c) appended, 1000 rows per COPY + commit;
then the relay lag from commit to JetStream acknowledgement at 1,000 events/s.

It prints events/s and p50/p99 latency per scenario, the ratios (b)/(a) and (c)/(d)
against their targets, and the CPU each process used, and can write everything as JSON.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import msgspec
import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from prometheus_client.parser import text_string_to_metric_families

from bench.httpclient import RawHttpConnection
from bench.loadgen import RAW_TABLE, EventFactory, Spec, WorkerResult
from bench.sysinfo import (
    IRQ,
    MACHINE,
    cpu_snapshot,
    fdatasync_probe_us,
    filesystem_of,
    machine_facts,
    percentile,
)
from credit_ledger.demo_catalog import demo_events
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import free_port, stop_process, wait_for_port
from credit_ledger.infra import apply_migrations, declare_streams
from credit_ledger.logs import configure_logging
from proto.envelope import Role
from proto.events import SCHEMA_VERSION
from proto.subjects import LEDGER_SUBJECTS
from services.ledger.api_keys import create_key

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
WORKER_READY_TIMEOUT_S = 180.0
WORKER_EXTRA_TIME_S = 120.0
GO_DELAY_S = 0.3
# Positions of raw rows: each worker gets its own block (see loadgen.CONNECTION_SLOT).
POSITION_BLOCK = 10**10
TARGET_SINGLE_RATIO = 1.0
TARGET_BATCH_RATIO = 0.5
TARGET_RELAY_P99_S = 0.05
SLOW_MESSAGE_MS = 25.0
SLOW_MESSAGES_KEPT = 500
COORDINATOR = "coordinator"
PROFILED_PHASES = ("b_http_single", "c_http_batch")
GROUP_HISTOGRAMS = (
    "ledger_group_commit_events",
    "ledger_group_commit_seconds",
    "ledger_append_seconds",
)


@dataclass(frozen=True)
class Options:
    seconds: float
    relay_seconds: float
    repeat: int
    json_path: Path | None
    data_dir: Path | None
    client_kind: str
    catchup_timeout_s: float
    profile_dir: Path | None = None
    server_module: str = "bench.serve_ledger"
    raw_conns: int = 32
    raw_procs: int = 2
    single_clients: int = 64
    single_procs: int = 2
    batch_clients: int = 4
    batch_size: int = 1000
    copy_conns: int = 4
    relay_rate: float = 1000.0
    relay_batch: int = 10


class PhaseResult(msgspec.Struct, kw_only=True):
    key: str
    label: str
    events: int
    requests: int
    errors: int
    first_error: str | None
    seconds: float
    events_per_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_cores: dict[str, float]
    late_sends: int = 0
    relay_backlog_after: int = 0
    relay_drain_s: float = 0.0
    # From the ledger's own histograms over the phase (HTTP phases only).
    group_commits: int = 0
    mean_group_events: float = 0.0
    mean_group_commit_ms: float = 0.0
    mean_append_queue_to_commit_ms: float = 0.0
    rates: list[float] = msgspec.field(default_factory=list)


class RelayResult(msgspec.Struct, kw_only=True):
    target_rate: float
    load: PhaseResult
    metric_count: int
    metric_p50_ms: float
    metric_p99_ms: float
    metric_share_within_50ms: float
    subscriber_count: int
    subscriber_p50_ms: float
    subscriber_p99_ms: float
    subscriber_max_ms: float
    # Messages slower than SLOW_MESSAGE_MS: [seconds since subscribing, lag ms, position]
    slow_messages: list[tuple[float, float, int]] = msgspec.field(default_factory=list)


@dataclass
class Scrape:
    head: float = 0.0
    relay: float = 0.0
    lag_buckets: dict[float, float] = field(default_factory=dict)
    # _sum and _count of the group-commit and append histograms, by sample name.
    totals: dict[str, float] = field(default_factory=dict)

    def delta(self, earlier: Scrape, name: str) -> float:
        return self.totals.get(name, 0.0) - earlier.totals.get(name, 0.0)


@dataclass
class Bench:
    options: Options
    workdir: Path
    database_url: str
    nats_url: str
    http_port: int
    cpu_roots: dict[str, int]
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    admin_token: str = ""
    institution_token: str = ""
    samples: list[tuple[str, str]] = field(default_factory=list)
    next_block: int = 1
    phase_count: int = 0

    def position_base(self) -> int:
        base = self.next_block * POSITION_BLOCK
        self.next_block += 1
        return base

    def http(self, token: str | None = None) -> RawHttpConnection:
        return RawHttpConnection(HOST, self.http_port, token)

    def assessed_on(self) -> str:
        return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- PostgreSQL-side preparation ---------------------------------------------------------


async def prepare_database(database_url: str) -> None:
    await apply_migrations(database_url)
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        # The same columns, constraints and indexes as the log; no triggers (LIKE copies none).
        await conn.execute(f"DROP TABLE IF EXISTS public.{RAW_TABLE}")
        await conn.execute(f"CREATE TABLE public.{RAW_TABLE} (LIKE ledger.events INCLUDING ALL)")
    finally:
        await conn.close()


async def drop_raw_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS public.{RAW_TABLE}")
    finally:
        await conn.close()


async def database_facts(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        facts = {}
        for name in (
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "commit_delay",
            "shared_buffers",
        ):
            facts[name] = str(await conn.fetchval(f"SHOW {name}"))
        return facts
    finally:
        await conn.close()


async def checkpoint(database_url: str) -> None:
    """Start every phase from a fresh checkpoint, so no phase pays for another's writes."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        with contextlib.suppress(asyncpg.PostgresError):  # needs superuser-ish rights
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# --- the ledger server --------------------------------------------------------------------


def server_environment(
    database_url: str, nats_url: str, port: int, data_dir: Path
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CREDIT_LEDGER_HTTP_HOST": HOST,
            "CREDIT_LEDGER_HTTP_PORT": str(port),
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            "CREDIT_LEDGER_RELAY_ENABLED": "true",
            "CREDIT_LEDGER_DATA_DIR": str(data_dir),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def start_server(
    workdir: Path, env: dict[str, str], port: int, module: str
) -> subprocess.Popen[bytes]:
    log_path = workdir / "ledger-server.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_port(HOST, port, process, SERVER_START_TIMEOUT_S)
    except Exception as exc:
        stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"the ledger server did not start:\n{tail}") from exc
    return process


async def get_json(bench: Bench, path: str) -> tuple[int, Any]:
    client = bench.http()
    try:
        status, body = await client.request("GET", path)
    finally:
        await client.close()
    return status, msgspec.json.decode(body) if body else None


async def wait_ready(bench: Bench) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    body: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            status, body = await get_json(bench, "/ready")
            if status == 200 and body.get("relay_leader"):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the ledger did not become ready (last /ready: {body!r})")


async def scrape(bench: Bench) -> Scrape:
    client = bench.http()
    try:
        status, body = await client.request("GET", "/metrics")
    finally:
        await client.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    result = Scrape()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "ledger_head_position":
                result.head = sample.value
            elif sample.name == "ledger_relay_position":
                result.relay = sample.value
            elif sample.name == "ledger_relay_lag_seconds_bucket":
                result.lag_buckets[float(sample.labels["le"])] = sample.value
            elif sample.name.startswith(GROUP_HISTOGRAMS) and sample.name.endswith(
                ("_sum", "_count")
            ):
                result.totals[sample.name] = sample.value
    return result


async def relay_catch_up(bench: Bench, timeout_s: float) -> tuple[int, float]:
    """Wait (bounded) until the relay has published the head; (backlog at start, seconds)."""
    started = time.monotonic()
    first = await scrape(bench)
    backlog = int(max(0.0, first.head - first.relay))
    current = first
    while current.relay < current.head:
        if time.monotonic() - started > timeout_s:
            log(
                f"relay still {int(current.head - current.relay)} events behind after"
                f" {timeout_s:.0f} s; going on"
            )
            break
        await asyncio.sleep(0.25)
        current = await scrape(bench)
    return backlog, time.monotonic() - started


# --- setting the ledger up --------------------------------------------------------------


async def create_keys(bench: Bench) -> None:
    conn = await asyncpg.connect(bench.database_url, timeout=10)
    try:
        admin = await create_key(conn, role=Role.ADMIN, name=f"bench-admin-{bench.tag}")
        institution = await create_key(
            conn,
            role=Role.INSTITUTION,
            name=f"bench-nsti-{bench.tag}",
            institution_id="NSTI-CHENNAI",
        )
    finally:
        await conn.close()
    bench.admin_token = admin.token
    bench.institution_token = institution.token


async def load_catalog(bench: Bench) -> None:
    body = msgspec.json.encode(
        {
            "events": [
                {"event_id": event_id, "event": msgspec.to_builtins(event)}
                for event_id, event in demo_events()
            ]
        }
    )
    client = bench.http(bench.admin_token)
    try:
        status, payload = await client.request("POST", "/v1/events/batch", body)
    finally:
        await client.close()
    if status != 201:
        raise RuntimeError(f"the demo catalog was not loaded: {status} {payload[:500]!r}")


async def warm_up(bench: Bench) -> None:
    """Exercise both append paths once, and keep real rows as the raw phases' data."""
    factory = EventFactory(f"{bench.tag}w", 0, bench.assessed_on(), 100_000)
    clients = [bench.http(bench.institution_token) for _ in range(16)]

    async def singles(client: RawHttpConnection) -> None:
        for _ in range(25):
            status, payload = await client.request("POST", "/v1/events", factory.single())
            if status != 201:
                raise RuntimeError(f"warm-up append refused: {status} {payload[:500]!r}")

    try:
        await asyncio.gather(*(singles(c) for c in clients))
        for _ in range(3):
            status, payload = await clients[0].request(
                "POST", "/v1/events/batch", factory.batch(bench.options.batch_size)
            )
            if status != 201:
                raise RuntimeError(f"warm-up batch refused: {status} {payload[:500]!r}")
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    conn = await asyncpg.connect(bench.database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT data::text AS data, metadata::text AS metadata FROM ledger.events"
            " WHERE type = 'AssessmentPassed' ORDER BY position DESC LIMIT 256"
        )
    finally:
        await conn.close()
    bench.samples = [(row["data"], row["metadata"]) for row in rows]
    if not bench.samples:
        raise RuntimeError("the warm-up left no AssessmentPassed rows to sample")


# --- running one phase --------------------------------------------------------------------


def _summarize(
    key: str,
    label: str,
    results: list[WorkerResult],
    window_s: float,
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    cpu_window_s: float,
) -> PhaseResult:
    latencies = sorted(value for result in results for value in result.latencies_ms)
    events = sum(r.events for r in results)
    requests = sum(r.requests for r in results)
    cores = {
        name: (cpu_after[name] - cpu_before[name]) / cpu_window_s
        for name in cpu_before
        if name in cpu_after
    }
    cores["loadgen"] = sum(r.cpu_s for r in results) / cpu_window_s
    machine = cores.pop(MACHINE, 0.0)
    irq = cores.pop(IRQ, 0.0)
    coordinator = cores.pop(COORDINATOR, 0.0)
    # Everything else on the machine: kernel threads (I/O completion) and anybody else.
    cores["other"] = max(0.0, machine - sum(cores.values()) - coordinator)
    cores["irq"] = irq
    cores[COORDINATOR] = coordinator
    return PhaseResult(
        key=key,
        label=label,
        events=events,
        requests=requests,
        errors=sum(r.errors for r in results),
        first_error=next((r.first_error for r in results if r.first_error), None),
        seconds=window_s,
        events_per_s=events / window_s if window_s > 0 else 0.0,
        requests_per_s=requests / window_s if window_s > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        cpu_cores=cores,
        late_sends=sum(r.late_sends for r in results),
    )


async def _stop_workers(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    for process in processes:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_profiler(
    bench: Bench, key: str, seconds: float
) -> asyncio.subprocess.Process | None:
    """py-spy on the ledger server during an HTTP phase (collapsed stacks), if asked for."""
    folder = bench.options.profile_dir
    if folder is None or key not in PROFILED_PHASES:
        return None
    py_spy = _py_spy()
    if py_spy is None:
        log("--profile needs py-spy (pip install py-spy into the venv); not profiling")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / f"{key}.collapsed.txt"
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(bench.cpu_roots["server"]),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def run_phase(
    bench: Bench, key: str, label: str, specs: list[Spec], *, timed: bool
) -> PhaseResult:
    bench.phase_count += 1
    folder = bench.workdir / f"phase-{bench.phase_count:02d}-{key}"
    folder.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    processes: list[asyncio.subprocess.Process] = []
    helpers: list[asyncio.subprocess.Process] = []
    try:
        for spec in specs:
            spec_path = folder / f"spec-{spec.worker}.json"
            spec_path.write_bytes(msgspec.json.encode(spec))
            with (folder / f"worker-{spec.worker}.err").open("wb") as err:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.loadgen",
                        str(spec_path),
                        str(folder / f"result-{spec.worker}.json"),
                        cwd=REPO_ROOT,
                        env=env,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=err,
                        start_new_session=True,
                    )
                )
        for spec, process in zip(specs, processes, strict=True):
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), WORKER_READY_TIMEOUT_S)
            if line.strip() != b"READY":
                await asyncio.sleep(0.2)
                error = (folder / f"worker-{spec.worker}.err").read_text(errors="replace")
                raise RuntimeError(
                    f"worker {spec.worker} of {key} failed to start:\n{error[-3000:]}"
                )
        metrics_before = await scrape(bench)
        start_at = time.time() + GO_DELAY_S
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"GO {start_at!r}\n".encode())
            await process.stdin.drain()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        profiler = await start_profiler(bench, key, specs[0].seconds if timed else 10.0)
        if profiler is not None:
            helpers.append(profiler)
        cpu_before = cpu_snapshot(bench.cpu_roots, {COORDINATOR: os.getpid()})
        cpu_started = time.time()
        seconds = specs[0].seconds
        if timed:
            await asyncio.sleep(max(0.0, start_at + seconds - time.time()))
            cpu_after = cpu_snapshot(bench.cpu_roots, {COORDINATOR: os.getpid()})
            cpu_window = time.time() - cpu_started
        await asyncio.wait_for(
            asyncio.gather(*(p.wait() for p in processes)), seconds + WORKER_EXTRA_TIME_S
        )
        if not timed:
            cpu_after = cpu_snapshot(bench.cpu_roots, {COORDINATOR: os.getpid()})
            cpu_window = time.time() - cpu_started
        metrics_after = await scrape(bench)
        if profiler is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(profiler.wait(), 30)
        results: list[WorkerResult] = []
        for spec, process in zip(specs, processes, strict=True):
            result_path = folder / f"result-{spec.worker}.json"
            if process.returncode != 0 or not result_path.exists():
                error = (folder / f"worker-{spec.worker}.err").read_text(errors="replace")
                raise RuntimeError(f"worker {spec.worker} of {key} failed:\n{error[-3000:]}")
            results.append(msgspec.json.decode(result_path.read_bytes(), type=WorkerResult))
    finally:
        await _stop_workers(processes + helpers)
    if timed:
        window = seconds
    else:
        first = min(r.started_at for r in results)
        window = max(r.started_at + r.elapsed_s for r in results) - first
    summary = _summarize(key, label, results, window, cpu_before, cpu_after, max(cpu_window, 1e-6))
    groups = metrics_after.delta(metrics_before, "ledger_group_commit_events_count")
    if groups > 0:
        appends = metrics_after.delta(metrics_before, "ledger_append_seconds_count")
        summary.group_commits = int(groups)
        summary.mean_group_events = (
            metrics_after.delta(metrics_before, "ledger_group_commit_events_sum") / groups
        )
        summary.mean_group_commit_ms = (
            metrics_after.delta(metrics_before, "ledger_group_commit_seconds_sum") / groups * 1000
        )
        summary.mean_append_queue_to_commit_ms = (
            metrics_after.delta(metrics_before, "ledger_append_seconds_sum")
            / max(appends, 1)
            * 1000
        )
    return summary


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _base_spec(bench: Bench, mode: str, worker: int, clients: int, seconds: float) -> Spec:
    return Spec(
        mode=mode,
        worker=worker,
        clients=clients,
        seconds=seconds,
        tag=f"{bench.tag}p{bench.phase_count + 1}",
        assessed_on=bench.assessed_on(),
        database_url=bench.database_url,
        http_host=HOST,
        http_port=bench.http_port,
        token=bench.institution_token,
        client_kind=bench.options.client_kind,
        schema_version=SCHEMA_VERSION,
        samples=bench.samples,
    )


async def before_phase(bench: Bench, label: str) -> None:
    # No phase competes with the relay draining an earlier phase's events.
    await relay_catch_up(bench, bench.options.catchup_timeout_s)
    await checkpoint(bench.database_url)
    log(f"{label}: running")


async def after_phase(bench: Bench, result: PhaseResult) -> None:
    """How far the relay fell behind during the phase, and how long it took to drain."""
    backlog, drain_s = await relay_catch_up(bench, bench.options.catchup_timeout_s)
    result.relay_backlog_after = backlog
    result.relay_drain_s = drain_s


async def phase_raw_insert(bench: Bench) -> PhaseResult:
    options = bench.options
    label = f"(a) raw INSERT+commit, {options.raw_conns} conns"
    await before_phase(bench, label)
    specs = []
    for worker, clients in enumerate(_spread(options.raw_conns, options.raw_procs)):
        spec = _base_spec(bench, "raw_insert", worker, clients, options.seconds)
        spec.position_base = bench.position_base()
        specs.append(spec)
    return await run_phase(bench, "a_raw_insert", label, specs, timed=True)


async def phase_http_single(bench: Bench) -> PhaseResult:
    options = bench.options
    label = f"(b) HTTP single, {options.single_clients} clients"
    await before_phase(bench, label)
    specs = [
        _base_spec(bench, "http_single", worker, clients, options.seconds)
        for worker, clients in enumerate(_spread(options.single_clients, options.single_procs))
    ]
    return await run_phase(bench, "b_http_single", label, specs, timed=True)


async def phase_http_batch(bench: Bench) -> PhaseResult:
    options = bench.options
    label = f"(c) HTTP batch x{options.batch_size}, {options.batch_clients} clients"
    await before_phase(bench, label)
    spec = _base_spec(bench, "http_batch", 0, options.batch_clients, options.seconds)
    spec.batch_size = options.batch_size
    return await run_phase(bench, "c_http_batch", label, [spec], timed=True)


async def phase_copy(bench: Bench, rows: int) -> PhaseResult:
    options = bench.options
    label = f"(d) raw COPY x{options.batch_size}, {options.copy_conns} conns"
    await before_phase(bench, label)
    # Count-bound; the time cap only guards against a stuck database.
    spec = _base_spec(bench, "copy", 0, options.copy_conns, max(60.0, options.seconds * 20))
    spec.rows = max(rows, options.batch_size)
    spec.chunk = options.batch_size
    spec.position_base = bench.position_base()
    return await run_phase(bench, "d_copy", label, [spec], timed=False)


def _histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """Like Prometheus's histogram_quantile over cumulative buckets (linear inside one)."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return 0.0
    rank = q * ordered[-1][1]
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return previous_le
            share = (rank - previous_count) / max(count - previous_count, 1e-12)
            return previous_le + (le - previous_le) * share
        previous_le, previous_count = le, count
    return previous_le


async def phase_relay(bench: Bench) -> RelayResult:
    options = bench.options
    label = f"relay lag @ {options.relay_rate:.0f} events/s (open loop)"
    await before_phase(bench, label)
    before = await scrape(bench)
    lags_ms: list[float] = []
    slow: list[tuple[float, float, int]] = []
    phase_start = time.time()

    async def on_message(message: Msg) -> None:
        received = time.time()
        headers = message.headers or {}
        committed = headers.get("ce-time")
        if committed:
            moment = dt.datetime.fromisoformat(committed.replace("Z", "+00:00"))
            lag_ms = (received - moment.timestamp()) * 1000.0
            lags_ms.append(lag_ms)
            if lag_ms > SLOW_MESSAGE_MS and len(slow) < SLOW_MESSAGES_KEPT:
                position = int(headers.get("Ledger-Position", "0"))
                slow.append((round(received - phase_start, 3), round(lag_ms, 1), position))

    nc = await nats.connect(bench.nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        subscription = await nc.jetstream().subscribe(
            LEDGER_SUBJECTS,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            headers_only=True,
        )
        spec = _base_spec(bench, "http_paced", 0, 32, options.relay_seconds)
        spec.rate = options.relay_rate
        spec.batch_size = options.relay_batch
        load = await run_phase(bench, "relay_load", label, [spec], timed=False)
        await relay_catch_up(bench, 30.0)
        await asyncio.sleep(0.5)
        await subscription.unsubscribe()
    finally:
        await nc.close()
    after = await scrape(bench)
    delta = {le: after.lag_buckets.get(le, 0.0) - count for le, count in before.lag_buckets.items()}
    total = max(delta.values(), default=0.0)
    within = delta.get(TARGET_RELAY_P99_S, 0.0)
    lags_ms.sort()
    return RelayResult(
        target_rate=options.relay_rate,
        load=load,
        metric_count=int(total),
        metric_p50_ms=_histogram_quantile(delta, 0.50) * 1000.0,
        metric_p99_ms=_histogram_quantile(delta, 0.99) * 1000.0,
        metric_share_within_50ms=within / total if total else 0.0,
        subscriber_count=len(lags_ms),
        subscriber_p50_ms=percentile(lags_ms, 0.50),
        subscriber_p99_ms=percentile(lags_ms, 0.99),
        subscriber_max_ms=lags_ms[-1] if lags_ms else 0.0,
        slow_messages=slow,
    )


def _median_result(runs: list[PhaseResult]) -> PhaseResult:
    """The run whose rate is nearest the median, carrying the median rate and every rate."""
    rates = [run.events_per_s for run in runs]
    median = statistics.median(rates)
    chosen = min(runs, key=lambda run: abs(run.events_per_s - median))
    return msgspec.structs.replace(chosen, events_per_s=median, rates=rates)


async def run_benchmark(bench: Bench) -> dict[str, Any]:
    await wait_ready(bench)
    await create_keys(bench)
    await load_catalog(bench)
    log("demo catalog loaded; warming up")
    await warm_up(bench)
    runs: dict[str, list[PhaseResult]] = {}
    for repetition in range(bench.options.repeat):
        if bench.options.repeat > 1:
            log(f"repetition {repetition + 1} of {bench.options.repeat}")
        batch = None
        for phase in ("a", "b", "c", "d"):
            if phase == "a":
                result = await phase_raw_insert(bench)
            elif phase == "b":
                result = await phase_http_single(bench)
            elif phase == "c":
                result = batch = await phase_http_batch(bench)
            else:
                result = await phase_copy(bench, batch.events if batch else 0)
            await after_phase(bench, result)
            log(
                f"{result.label}: {result.events_per_s:,.0f} events/s,"
                f" p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
                f" errors {result.errors}"
            )
            runs.setdefault(result.key, []).append(result)
    phases = {key: _median_result(results) for key, results in runs.items()}
    relay = await phase_relay(bench)
    log(
        f"relay: p99 {relay.metric_p99_ms:.1f} ms (metric),"
        f" {relay.subscriber_p99_ms:.1f} ms (subscriber)"
    )
    return {"phases": phases, "relay": relay}


# --- report -------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def render(report: dict[str, Any]) -> str:
    phases: dict[str, PhaseResult] = report["phases"]
    relay: RelayResult = report["relay"]
    ratios = report["ratios"]
    facts = report["machine"]
    db = report["database"]
    lines = [
        "Credit ledger write-path benchmark",
        f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), Python {facts['python']},"
        f" PostgreSQL {db['server_version']} (fsync={db['fsync']},"
        f" synchronous_commit={db['synchronous_commit']}, wal_sync_method={db['wal_sync_method']}),"
        f" data on {report['data_filesystem']}"
        f" (8 kB write + fdatasync: {report['fdatasync_us']:.0f} us)",
        f"ledger: uvicorn, 1 process; HTTP client: {report['options']['client_kind']};"
        f" {report['options']['seconds']:g} s per phase, {report['options']['repeat']} run(s),"
        " rates are medians",
        "",
        f"{'scenario':<40}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"   CPU cores: {'server':>6}{'loadgen':>8}{'pg':>6}{'nats':>6}{'irq':>6}{'other':>6}",
    ]
    for key in ("a_raw_insert", "b_http_single", "c_http_batch", "d_copy"):
        phase = phases[key]
        cores = phase.cpu_cores
        lines.append(
            f"{phase.label:<40}{phase.events_per_s:>10,.0f}{phase.requests_per_s:>9,.0f}"
            f"{phase.p50_ms:>9.2f}{phase.p99_ms:>9.2f}{phase.errors:>8}"
            f"              {cores.get('server', 0):>6.2f}{cores.get('loadgen', 0):>8.2f}"
            f"{cores.get('postgres', 0):>6.2f}{cores.get('nats', 0):>6.2f}"
            f"{cores.get('irq', 0):>6.2f}{cores.get('other', 0):>6.2f}"
        )
    load = relay.load
    cores = load.cpu_cores
    lines += [
        f"{load.label:<40}{load.events_per_s:>10,.0f}{load.requests_per_s:>9,.0f}"
        f"{load.p50_ms:>9.2f}{load.p99_ms:>9.2f}{load.errors:>8}"
        f"              {cores.get('server', 0):>6.2f}{cores.get('loadgen', 0):>8.2f}"
        f"{cores.get('postgres', 0):>6.2f}{cores.get('nats', 0):>6.2f}"
        f"{cores.get('irq', 0):>6.2f}{cores.get('other', 0):>6.2f}",
        "",
        f"relay lag, commit -> JetStream ack (ledger_relay_lag_seconds, {relay.metric_count} events):"
        f" p50 {relay.metric_p50_ms:.1f} ms, p99 {relay.metric_p99_ms:.1f} ms,"
        f" {relay.metric_share_within_50ms * 100:.2f} % within 50 ms",
        f"relay lag, commit -> subscriber receipt ({relay.subscriber_count} events):"
        f" p50 {relay.subscriber_p50_ms:.1f} ms, p99 {relay.subscriber_p99_ms:.1f} ms,"
        f" max {relay.subscriber_max_ms:.1f} ms",
        "",
        f"{'check':<44}{'value':>10}{'target':>12}   verdict",
        f"{'(b)/(a) HTTP single vs raw INSERT+commit':<44}{ratios['b_over_a']:>10.2f}"
        f"{'>= ' + format(TARGET_SINGLE_RATIO, '.1f'):>12}   {_verdict(ratios['b_over_a'] >= TARGET_SINGLE_RATIO)}",
        f"{'(c)/(d) HTTP batch vs raw COPY':<44}{ratios['c_over_d']:>10.2f}"
        f"{'>= ' + format(TARGET_BATCH_RATIO, '.1f'):>12}   {_verdict(ratios['c_over_d'] >= TARGET_BATCH_RATIO)}",
        f"{'relay lag p99 at ' + format(relay.target_rate, '.0f') + ' events/s (ms)':<44}"
        f"{relay.metric_p99_ms:>10.1f}{'< 50':>12}   {_verdict(ratios['relay_ok'])}",
    ]
    lines.append("")
    for phase in (phases["b_http_single"], phases["c_http_batch"], load):
        if phase.group_commits:
            lines.append(
                f"{phase.label}: {phase.group_commits} group commits, mean"
                f" {phase.mean_group_events:.1f} events and {phase.mean_group_commit_ms:.1f} ms"
                f" each; queue->commit mean {phase.mean_append_queue_to_commit_ms:.1f} ms"
            )
    for phase in (phases["b_http_single"], phases["c_http_batch"]):
        if phase.relay_backlog_after >= 1000 and phase.relay_drain_s >= 1.0:
            lines.append(
                f"{phase.label}: the relay was {phase.relay_backlog_after} events behind at the"
                f" end and drained them in {phase.relay_drain_s:.1f} s"
                f" (~{phase.relay_backlog_after / max(phase.relay_drain_s, 1e-3):,.0f} events/s,"
                " with no load)"
            )
    notes = []
    for key in ("a_raw_insert", "b_http_single", "c_http_batch", "d_copy"):
        phase = phases[key]
        if len(phase.rates) > 1:
            notes.append(f"{phase.label}: rates {', '.join(f'{r:,.0f}' for r in phase.rates)}")
        if phase.first_error:
            notes.append(f"{phase.label}: first error: {phase.first_error}")
    if load.late_sends:
        notes.append(f"relay load: {load.late_sends} sends found no free connection on time")
    if load.first_error:
        notes.append(f"relay load: first error: {load.first_error}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


# --- entry point --------------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="~3 s per phase (a smoke run)")
    parser.add_argument("--seconds", type=float, help="seconds per phase (default 15; quick 3)")
    parser.add_argument("--relay-seconds", type=float, help="seconds of relay load (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="run (a)-(d) N times; medians")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the results here")
    parser.add_argument(
        "--data-dir", type=Path, help="where the embedded servers keep data (default: a temp dir)"
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="HTTP client of the load generator",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        dest="profile_dir",
        help="record the server with py-spy during (b) and (c); collapsed stacks go here",
    )
    parser.add_argument(
        "--server-module",
        default="bench.serve_ledger",
        help="module that runs the ledger (for experiments with a patched ledger)",
    )
    parser.add_argument("--batch-clients", type=int, default=4, help="clients of phase (c)")
    parser.add_argument("--copy-conns", type=int, default=4, help="connections of phase (d)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    relay_seconds = args.relay_seconds or (3.0 if args.quick else 10.0)
    if seconds <= 0 or seconds > 600 or relay_seconds <= 0 or relay_seconds > 600:
        parser.error("phase durations must be within (0, 600] seconds")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be between 1 and 20")
    return Options(
        seconds=seconds,
        relay_seconds=relay_seconds,
        repeat=args.repeat,
        json_path=args.json_path,
        data_dir=args.data_dir,
        client_kind=args.client,
        catchup_timeout_s=120.0 if args.quick else 600.0,
        batch_clients=args.batch_clients,
        copy_conns=args.copy_conns,
        profile_dir=args.profile_dir,
        server_module=args.server_module,
    )


def _pid_from(pid_file: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(pid_file.read_text().split()[0])
    return None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    configure_logging("warning", "console")
    signal.signal(signal.SIGTERM, _interrupt)
    if options.data_dir is not None:
        options.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-", dir=options.data_dir))
    postgres: EmbeddedPostgres | None = None
    nats_server: EmbeddedNats | None = None
    server: subprocess.Popen[bytes] | None = None
    database_url = os.environ.get("DATABASE_URL") or ""
    nats_url = os.environ.get("NATS_URL") or ""
    try:
        fsync_us = fdatasync_probe_us(workdir)
        if not database_url:
            postgres = EmbeddedPostgres(workdir / "postgres", fsync=True)
            log(f"starting embedded PostgreSQL (fsync on) in {postgres.data_dir}")
            postgres.start()
            database_url = postgres.url
        if not nats_url:
            nats_server = EmbeddedNats(workdir / "nats")
            nats_server.start()
            nats_url = nats_server.url
        asyncio.run(prepare_database(database_url))
        asyncio.run(declare_streams(nats_url, 1))
        db_facts = asyncio.run(database_facts(database_url))
        port = free_port(HOST)
        server = start_server(
            workdir,
            server_environment(database_url, nats_url, port, workdir / "ledger"),
            port,
            options.server_module,
        )
        roots = {"server": server.pid}
        if postgres is not None and (pid := _pid_from(postgres.data_dir / "postmaster.pid")):
            roots["postgres"] = pid
        if nats_server is not None and (
            pid := _pid_from(nats_server.store_dir / "nats-server.pid")
        ):
            roots["nats"] = pid
        bench = Bench(options, workdir, database_url, nats_url, port, roots)
        log(f"ledger on http://{HOST}:{port} (pid {server.pid}); {options.seconds:g} s per phase")
        results = asyncio.run(run_benchmark(bench))
        phases: dict[str, PhaseResult] = results["phases"]
        relay: RelayResult = results["relay"]
        report: dict[str, Any] = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_facts(),
            "database": db_facts,
            "fdatasync_us": fsync_us,
            "data_filesystem": filesystem_of(workdir)
            if postgres is not None
            else "external (DATABASE_URL)",
            "options": {
                "seconds": options.seconds,
                "relay_seconds": options.relay_seconds,
                "repeat": options.repeat,
                "client_kind": options.client_kind,
                "raw_conns": options.raw_conns,
                "single_clients": options.single_clients,
                "batch_clients": options.batch_clients,
                "batch_size": options.batch_size,
                "copy_conns": options.copy_conns,
                "relay_rate": options.relay_rate,
                "relay_batch": options.relay_batch,
            },
            "phases": phases,
            "relay": relay,
            "ratios": {
                "b_over_a": _ratio(
                    phases["b_http_single"].events_per_s, phases["a_raw_insert"].events_per_s
                ),
                "c_over_d": _ratio(
                    phases["c_http_batch"].events_per_s, phases["d_copy"].events_per_s
                ),
                "relay_ok": relay.metric_count > 0 and relay.metric_share_within_50ms >= 0.99,
            },
        }
        print(render(report), flush=True)
        if options.json_path is not None:
            options.json_path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
            log(f"results written to {options.json_path}")
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        if server is not None:
            stop_process(server, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
        if postgres is None and database_url:
            with contextlib.suppress(Exception):
                asyncio.run(drop_raw_table(database_url))
        if nats_server is not None:
            nats_server.destroy()
        if postgres is not None:
            postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
