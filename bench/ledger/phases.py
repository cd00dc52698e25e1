"""The write-path benchmark's phases (a)-(d): load from worker processes, summarized with CPU and the ledger's metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path

import msgspec

from bench.harness import profiling, workers
from bench.harness.loadgen import Spec, WorkerResult
from bench.harness.servers import (
    HOST,
)
from bench.harness.sysinfo import (
    IRQ,
    MACHINE,
    cpu_snapshot,
    percentile,
    tree_pids,
)
from bench.ledger.models import (
    COORDINATOR,
    PROFILED_PHASES,
    WORKER_EXTRA_TIME_S,
    Bench,
    PhaseResult,
    log,
)
from bench.ledger.setup import checkpoint, relay_catch_up, scrape, tree_catch_up
from proto.events import SCHEMA_VERSION

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
    parts = {
        name.removeprefix(PART_PREFIX): (cpu_after.pop(name, 0.0) - cpu_before.pop(name))
        / cpu_window_s
        for name in list(cpu_before)
        if name.startswith(PART_PREFIX)
    }
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
        server_cores=_server_split(cores.get("server", 0.0), parts),
        late_sends=sum(r.late_sends for r in results),
    )


# The ledger's helper processes, told apart by their command line (credit_ledger_processes).
SERVER_HELPERS = {"relay": "credit_ledger relay", "tree builder": "credit_ledger audit build-tree"}
PART_PREFIX = "part:"


def server_helpers(server_pid: int) -> dict[str, int]:
    """``part:<name>`` -> pid of each helper process of the ledger's that is running."""
    found = {}
    for pid in tree_pids(server_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        for name, marker in SERVER_HELPERS.items():
            if marker in command:
                found[PART_PREFIX + name] = pid
    return found


def _server_split(server: float, helpers: dict[str, float]) -> dict[str, float]:
    """The server's cores by process kind: its helpers, and the HTTP processes (the rest)."""
    return {"http": max(0.0, server - sum(helpers.values())), **helpers}


async def start_profiler(
    bench: Bench, key: str, seconds: float
) -> asyncio.subprocess.Process | None:
    """py-spy on the ledger server during an HTTP phase (collapsed stacks), if asked for."""
    folder = bench.options.profile_dir
    if folder is None or key not in PROFILED_PHASES:
        return None
    output = folder / f"{key}.collapsed.txt"
    return await profiling.start(
        bench.cpu_roots["server"],
        output,
        rate_hz=200,
        duration_s=max(1, int(seconds)),
        subprocesses=True,
    )


async def run_phase(
    bench: Bench, key: str, label: str, specs: list[Spec], *, timed: bool
) -> PhaseResult:
    bench.phase_count += 1
    folder = bench.workdir / f"phase-{bench.phase_count:02d}-{key}"
    folder.mkdir()
    processes: list[asyncio.subprocess.Process] = []
    helpers: list[asyncio.subprocess.Process] = []
    try:
        processes = await workers.spawn(folder, specs)
        metrics_before = await scrape(bench)
        start_at = await workers.go(processes)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        profiler = await start_profiler(bench, key, specs[0].seconds if timed else 10.0)
        if profiler is not None:
            helpers.append(profiler)
        singles = {COORDINATOR: os.getpid(), **server_helpers(bench.cpu_roots["server"])}
        cpu_before = cpu_snapshot(bench.cpu_roots, singles)
        cpu_started = time.time()
        seconds = specs[0].seconds
        if timed:
            await asyncio.sleep(max(0.0, start_at + seconds - time.time()))
            cpu_after = cpu_snapshot(bench.cpu_roots, singles)
            cpu_window = time.time() - cpu_started
        await asyncio.wait_for(
            asyncio.gather(*(p.wait() for p in processes)), seconds + WORKER_EXTRA_TIME_S
        )
        if not timed:
            cpu_after = cpu_snapshot(bench.cpu_roots, singles)
            cpu_window = time.time() - cpu_started
        metrics_after = await scrape(bench)
        if profiler is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(profiler.wait(), 30)
        results = workers.results(folder, specs, processes)
    finally:
        await workers.stop(processes + helpers)
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


def base_spec(bench: Bench, mode: str, worker: int, clients: int, seconds: float) -> Spec:
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
    # No phase competes with the relay or the tree builder catching up on an earlier one.
    await relay_catch_up(bench, bench.options.catchup_timeout_s)
    await tree_catch_up(bench, bench.options.catchup_timeout_s)
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
        spec = base_spec(bench, "raw_insert", worker, clients, options.seconds)
        spec.position_base = bench.position_base()
        specs.append(spec)
    return await run_phase(bench, "a_raw_insert", label, specs, timed=True)


async def phase_http_single(bench: Bench) -> PhaseResult:
    options = bench.options
    label = f"(b) HTTP single, {options.single_clients} clients"
    await before_phase(bench, label)
    specs = [
        base_spec(bench, "http_single", worker, clients, options.seconds)
        for worker, clients in enumerate(_spread(options.single_clients, options.single_procs))
    ]
    return await run_phase(bench, "b_http_single", label, specs, timed=True)


async def phase_http_batch(bench: Bench) -> PhaseResult:
    options = bench.options
    label = f"(c) HTTP batch x{options.batch_size}, {options.batch_clients} clients"
    await before_phase(bench, label)
    spec = base_spec(bench, "http_batch", 0, options.batch_clients, options.seconds)
    spec.batch_size = options.batch_size
    return await run_phase(bench, "c_http_batch", label, [spec], timed=True)


async def phase_copy(bench: Bench, rows: int) -> PhaseResult:
    options = bench.options
    label = f"(d) raw COPY x{options.batch_size}, {options.copy_conns} conns"
    await before_phase(bench, label)
    # Count-bound; the time cap only guards against a stuck database.
    spec = base_spec(bench, "copy", 0, options.copy_conns, max(60.0, options.seconds * 20))
    spec.rows = max(rows, options.batch_size)
    spec.chunk = options.batch_size
    spec.position_base = bench.position_base()
    return await run_phase(bench, "d_copy", label, [spec], timed=False)


def _median_result(runs: list[PhaseResult]) -> PhaseResult:
    """The run whose rate is nearest the median, carrying the median rate and every rate."""
    rates = [run.events_per_s for run in runs]
    median = statistics.median(rates)
    chosen = min(runs, key=lambda run: abs(run.events_per_s - median))
    return msgspec.structs.replace(chosen, events_per_s=median, rates=rates)
