"""(b) ``services.projector.rebuild.rebuild_reporting`` in a process of its own: rate, CPU
of every process, memory of every process of the rebuild's tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

import asyncpg
import msgspec

from bench.harness import profiling
from bench.harness.servers import (
    REPO_ROOT,
    LedgerServer,
)
from bench.harness.sysinfo import (
    Machine,
    child_pids,
    cores,
    process_cpu_seconds,
    status_kb,
    tree_pids,
)
from bench.projector.models import (
    CHILD_SAMPLE_S,
    PROFILE_RATE_HZ,
    PROGRESS_EVERY_S,
    PROJECTOR_ROLE,
    RSS_SAMPLE_S,
    LogFacts,
    Options,
    ProcessPeak,
    RebuildResult,
    log,
)
from services.common.logs import configure_logging
from services.projector.rebuild import RebuildSpec as PartitionRebuildSpec
from services.projector.rebuild import rebuild_reporting

# The process trees whose CPU a rebuild costs: events per CPU-second divides by their sum.
WORK_PROCESSES = ("ledger", "postgres", "rebuild", "nats")
# The read model a rebuild writes, emptied before each one so that every rebuild starts
# from a fresh projector database (a rebuild DELETEs its partition's rows first: over a
# million rows left by the one before, it would pay for those too).
READ_MODEL_TABLES = ("events", "credit_banks", "progress", "checkpoints", "thresholds", "outbox")

# --- (b) the rebuild ---------------------------------------------------------------------------


class RebuildSpec(msgspec.Struct, kw_only=True):
    database_url: str
    ledger_url: str
    api_key: str
    # rebuild_reporting(..., partitions): one partition rebuilds in this child; more run a
    # spawned process each (the child's grandchildren), which the child samples and reaps.
    partitions: int = 1


class ChildProcess(msgspec.Struct, kw_only=True):
    pid: int
    role: str
    hwm_kb: int = 0
    cpu_s: float = 0.0


class RebuildChildReport(msgspec.Struct, kw_only=True):
    position: int
    events_read: int
    seconds: float
    # The child's own CPU over the call (its sampler thread's taken out) and that of the
    # children it reaped meanwhile (the partition processes), from os.times.
    self_cpu_s: float
    children_cpu_s: float
    sampler_cpu_s: float
    rss_start_kb: int
    hwm_kb: int
    maxrss_kb: int
    children_maxrss_kb: int
    children: list[ChildProcess] = msgspec.field(default_factory=list)
    stage_cpu_s: dict[str, float] = msgspec.field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        return self.self_cpu_s + self.children_cpu_s


def _role(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    if b"resource_tracker" in command:
        return "resource tracker"
    if b"spawn_main" in command:
        return "partition"
    return "other"


class ChildSampler(threading.Thread):
    """Samples the VmHWM and CPU of this process's children every ``interval`` seconds.

    A partition process's peak can only be read while it lives (a zombie has no memory
    left to report), and rusage's ru_maxrss of a spawned child starts from its parent's
    peak (the fork before the exec), so the high-water mark is read from /proc: at most
    ``interval`` of a process's life goes unseen, its very end, when it has returned its
    result and idles until the pool shuts down.
    """

    def __init__(self, interval: float) -> None:
        super().__init__(name="bench-child-sampler", daemon=True)
        self.interval = interval
        self.seen: dict[int, ChildProcess] = {}
        self.cpu_s = 0.0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        for pid in child_pids(os.getpid()):
            hwm = status_kb(pid, "VmHWM")
            if not hwm:
                continue
            entry = self.seen.get(pid)
            if entry is None:
                entry = self.seen[pid] = ChildProcess(pid=pid, role=_role(pid))
            elif entry.role == "other" and (role := _role(pid)) != "other":
                # Seen between its fork and its exec, it was still a copy of this process
                # (sharing this one's memory, after a vfork): only the exec'd one counts.
                entry.role, entry.hwm_kb, entry.cpu_s = role, 0, 0.0
            entry.hwm_kb = max(entry.hwm_kb, hwm)
            entry.cpu_s = max(entry.cpu_s, process_cpu_seconds(pid))

    def run(self) -> None:
        started = time.thread_time()
        while not self._stop_event.wait(self.interval):
            self.sample()
        self.cpu_s = time.thread_time() - started

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def child_rebuild(spec_path: Path, result_path: Path) -> int:
    """Runs in its own process: the rebuild exactly as ``credit-ledger projector rebuild``."""
    configure_logging("warning", "console")
    spec = msgspec.json.decode(spec_path.read_bytes(), type=RebuildSpec)
    rss_start = status_kb("self", "VmRSS")
    sampler = ChildSampler(CHILD_SAMPLE_S)
    sampler.start()
    times_before = os.times()
    started = time.perf_counter()
    try:
        rebuilt = asyncio.run(
            rebuild_reporting(
                PartitionRebuildSpec(
                    spec.database_url, spec.ledger_url, spec.api_key, PROJECTOR_ROLE, progress=False
                ),
                spec.partitions,
            )
        )
        seconds = time.perf_counter() - started
        # The pool has joined (reaped) its processes: their CPU is in the children's times.
        times_after = os.times()
    finally:
        sampler.stop()
    report = RebuildChildReport(
        position=rebuilt.position,
        events_read=rebuilt.events,
        stage_cpu_s=rebuilt.stage_cpu_s,
        seconds=seconds,
        self_cpu_s=times_after.user
        - times_before.user
        + times_after.system
        - times_before.system
        - sampler.cpu_s,
        children_cpu_s=times_after.children_user
        - times_before.children_user
        + times_after.children_system
        - times_before.children_system,
        sampler_cpu_s=sampler.cpu_s,
        rss_start_kb=rss_start,
        hwm_kb=status_kb("self", "VmHWM"),
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        children_maxrss_kb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        children=sorted(sampler.seen.values(), key=lambda c: c.pid),
    )
    result_path.write_bytes(msgspec.json.encode(report))
    return 0


async def read_checkpoint(conn: asyncpg.Connection, partitions: int | None = None) -> int:
    """The lowest checkpoint (of the layout of ``partitions``, or of any layout)."""
    if partitions is None:
        query = "SELECT coalesce(min(position), 0) FROM projector.checkpoints"
        return int(await conn.fetchval(query))
    return int(
        await conn.fetchval(
            "SELECT coalesce(min(position), 0) FROM projector.checkpoints WHERE partitions = $1",
            partitions,
        )
    )


async def empty_read_model(conn: asyncpg.Connection) -> None:
    """As a fresh projector database: no read model, no checkpoint; then a CHECKPOINT,
    so that no rebuild pays for the dirty pages of the one before."""
    tables = ", ".join(f"projector.{table}" for table in READ_MODEL_TABLES)
    await conn.execute(f"TRUNCATE {tables}")
    await conn.execute("CHECKPOINT")


def _tree_rss_mb(pid: int) -> float:
    return sum(status_kb(p, "VmRSS") for p in tree_pids(pid)) / 1024


def _processes(report: RebuildChildReport, partitions: int) -> list[ProcessPeak]:
    own = ProcessPeak(
        pid=0,
        role="partition" if partitions == 1 else "coordinator",
        peak_rss_mb=report.hwm_kb / 1024,
        cpu_s=report.self_cpu_s,
    )
    return [own] + [
        ProcessPeak(pid=c.pid, role=c.role, peak_rss_mb=c.hwm_kb / 1024, cpu_s=c.cpu_s)
        for c in report.children
    ]


async def run_rebuild(
    *,
    label: str,
    log_name: str,
    partitions: int,
    run: int,
    workdir: Path,
    database_url: str,
    server: LedgerServer,
    token: str,
    facts: LogFacts,
    options: Options,
    machine: Machine,
    profile_name: str | None,
) -> RebuildResult:
    folder = workdir / f"rebuild-{secrets.token_hex(3)}"
    folder.mkdir()
    spec_path, result_path = folder / "spec.json", folder / "result.json"
    spec_path.write_bytes(
        msgspec.json.encode(
            RebuildSpec(
                database_url=database_url,
                ledger_url=server.url,
                api_key=token,
                partitions=partitions,
            )
        )
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    conn = await asyncpg.connect(database_url, timeout=10)
    profilers: list[tuple[str, Path, asyncio.subprocess.Process]] = []
    samples: list[tuple[float, int, float]] = []
    timed_out = False
    try:
        await empty_read_model(conn)
        with (folder / "stderr.txt").open("wb") as err:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.projector_bench",
                "_rebuild",
                str(spec_path),
                str(result_path),
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        before = machine.snapshot({"rebuild": child.pid})
        started = time.perf_counter()
        if options.profile_dir is not None and profile_name is not None:
            # The partition processes are spawned later: py-spy follows the child's tree.
            for name, pid in (("rebuild", child.pid), ("ledger", server.process.pid)):
                output = options.profile_dir / f"{profile_name}-{name}.collapsed.txt"
                spy = await profiling.start(pid, output, PROFILE_RATE_HZ, subprocesses=True)
                if spy is not None:
                    profilers.append((name, output, spy))
        last_report = started
        after = before
        while child.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), RSS_SAMPLE_S)
            if child.returncode is not None:
                break
            now = time.perf_counter()
            after = machine.snapshot({"rebuild": child.pid})
            position = await read_checkpoint(conn, partitions)
            rss_mb = _tree_rss_mb(child.pid)
            samples.append((round(now - started, 2), position, round(rss_mb, 1)))
            if now - last_report >= PROGRESS_EVERY_S:
                log(
                    f"{label}: {now - started:.0f} s, RSS of its processes {rss_mb:,.0f} MB"
                    " (the checkpoint moves when a partition commits)"
                )
                last_report = now
            if now - started > options.rebuild_timeout_s:
                log(f"{label}: over {options.rebuild_timeout_s:.0f} s; stopping it (partial)")
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                await child.wait()
                break
        seconds = time.perf_counter() - started
        if not timed_out:
            # The child's tree CPU is gone with it once reaped: take the rest from its report.
            after = {**after, **{k: v for k, v in machine.snapshot().items() if k != "rebuild"}}
        profiles = []
        for name, output, spy in profilers:
            await profiling.stop(spy)
            summary = profiling.summarize(name, output)
            if summary is not None:
                profiles.append(summary)
        if timed_out:
            position = samples[-1][1] if samples else 0
            cpu_s = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in WORK_PROCESSES}
            return RebuildResult(
                label=label,
                log=log_name,
                partitions=partitions,
                run=run,
                events=facts.events,
                learners=facts.learners,
                cache_learners=options.cache_learners,
                position=position,
                seconds=seconds,
                events_per_s=position / seconds,
                child_cpu_s=cpu_s["rebuild"],
                cpu_s=cpu_s,
                all_cpu_s=sum(cpu_s.values()),
                rss_start_mb=samples[0][2] if samples else 0.0,
                peak_rss_mb=max((s[2] for s in samples), default=0.0),
                rss_samples=samples,
                cpu_cores=cores(before, after, seconds),
                timed_out=True,
                profiles=profiles,
            )
        if child.returncode != 0 or not result_path.exists():
            error = (folder / "stderr.txt").read_text(errors="replace")
            raise RuntimeError(f"the rebuild failed ({child.returncode}):\n{error[-4000:]}")
        report = msgspec.json.decode(result_path.read_bytes(), type=RebuildChildReport)
        after["rebuild"] = before.get("rebuild", 0.0) + report.cpu_s
        checkpoint = await read_checkpoint(conn, partitions)
        if checkpoint != report.position or report.position != facts.head:
            raise RuntimeError(
                f"the rebuild stopped at {report.position} (checkpoint {checkpoint}),"
                f" the head is {facts.head}"
            )
    finally:
        await conn.close()
        for _name, _output, spy in profilers:
            if spy.returncode is None:
                await profiling.stop(spy)
    processes = _processes(report, partitions)
    workers = [p for p in processes if p.role == "partition"]
    if len(workers) != partitions:
        log(
            f"{label}: sampled {len(workers)} partition processes, expected {partitions}:"
            " the memory figures miss some"
        )
    cpu_s = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in WORK_PROCESSES}
    all_cpu_s = sum(cpu_s.values())
    return RebuildResult(
        label=label,
        log=log_name,
        partitions=partitions,
        run=run,
        events=facts.events,
        learners=facts.learners,
        cache_learners=options.cache_learners,
        position=report.position,
        seconds=report.seconds,
        events_per_s=report.position / report.seconds,
        child_cpu_s=report.cpu_s,
        cpu_s=cpu_s,
        all_cpu_s=all_cpu_s,
        events_per_cpu_s=report.position / all_cpu_s if all_cpu_s > 0 else 0.0,
        processes=processes,
        peak_rss_sum_mb=sum(p.peak_rss_mb for p in workers),
        coordinator_rss_mb=report.hwm_kb / 1024,
        stage_cpu_us_per_event={
            stage: seconds * 1e6 / max(report.position, 1)
            for stage, seconds in report.stage_cpu_s.items()
        },
        rss_start_mb=report.rss_start_kb / 1024,
        peak_rss_mb=max((p.peak_rss_mb for p in workers), default=report.hwm_kb / 1024),
        rss_samples=samples,
        cpu_cores=cores(before, after, seconds),
        profiles=profiles,
    )
