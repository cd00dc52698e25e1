"""(b) ``services.projector.rebuild.rebuild`` in a process of its own: rate and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import sys
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
    cores,
)
from bench.projector.models import (
    PROFILE_RATE_HZ,
    PROGRESS_EVERY_S,
    PROJECTOR_ROLE,
    RSS_SAMPLE_S,
    LogFacts,
    Options,
    RebuildResult,
    log,
)
from services.common.logs import configure_logging
from services.projector.rebuild import RebuildSpec as PartitionRebuildSpec
from services.projector.rebuild import rebuild_reporting

# --- (b) the rebuild ---------------------------------------------------------------------------


class RebuildSpec(msgspec.Struct, kw_only=True):
    database_url: str
    ledger_url: str
    api_key: str
    # The rebuild runs a process per partition beyond one: this child's CPU is then the
    # coordinator's only (the machine snapshot counts the whole process tree).
    partitions: int = 1


class RebuildChildReport(msgspec.Struct, kw_only=True):
    position: int
    seconds: float
    cpu_s: float
    rss_start_kb: int
    hwm_kb: int
    maxrss_kb: int
    stage_cpu_s: dict[str, float] = msgspec.field(default_factory=dict)


def status_kb(pid: int | str, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def child_rebuild(spec_path: Path, result_path: Path) -> int:
    """Runs in its own process: the rebuild exactly as ``credit-ledger projector rebuild``."""
    configure_logging("warning", "console")
    spec = msgspec.json.decode(spec_path.read_bytes(), type=RebuildSpec)
    rss_start = status_kb("self", "VmRSS")
    cpu_started = time.process_time()
    started = time.perf_counter()
    rebuilt = asyncio.run(
        rebuild_reporting(
            PartitionRebuildSpec(
                spec.database_url, spec.ledger_url, spec.api_key, PROJECTOR_ROLE, progress=False
            ),
            spec.partitions,
        )
    )
    report = RebuildChildReport(
        position=rebuilt.position,
        stage_cpu_s=rebuilt.stage_cpu_s,
        seconds=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu_started,
        rss_start_kb=rss_start,
        hwm_kb=status_kb("self", "VmHWM"),
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )
    result_path.write_bytes(msgspec.json.encode(report))
    return 0


async def read_checkpoint(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(min(position), 0) FROM projector.checkpoints"))


async def run_rebuild(
    *,
    label: str,
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
            for name, pid in (("rebuild", child.pid), ("ledger", server.process.pid)):
                output = options.profile_dir / f"{profile_name}-{name}.collapsed.txt"
                spy = await profiling.start(pid, output, PROFILE_RATE_HZ)
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
            position = await read_checkpoint(conn)
            rss_mb = status_kb(child.pid, "VmRSS") / 1024
            samples.append((round(now - started, 2), position, round(rss_mb, 1)))
            if now - last_report >= PROGRESS_EVERY_S:
                rate = position / (now - started)
                log(
                    f"{label}: {position:,}/{facts.head:,} ({position * 100 // facts.head} %),"
                    f" {rate:,.0f} events/s, RSS {rss_mb:,.0f} MB"
                )
                last_report = now
            if now - started > options.rebuild_timeout_s:
                log(f"{label}: over {options.rebuild_timeout_s:.0f} s; stopping it (partial)")
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
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
            peak = max((s[2] for s in samples), default=0.0)
            return RebuildResult(
                label=label,
                events=facts.events,
                learners=facts.learners,
                cache_learners=options.cache_learners,
                position=position,
                seconds=seconds,
                events_per_s=position / seconds,
                child_cpu_s=after.get("rebuild", 0.0) - before.get("rebuild", 0.0),
                rss_start_mb=samples[0][2] if samples else 0.0,
                peak_rss_mb=peak,
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
        checkpoint = await read_checkpoint(conn)
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
    return RebuildResult(
        label=label,
        events=facts.events,
        learners=facts.learners,
        cache_learners=options.cache_learners,
        position=report.position,
        seconds=report.seconds,
        events_per_s=report.position / report.seconds,
        child_cpu_s=report.cpu_s,
        stage_cpu_us_per_event={
            stage: seconds * 1e6 / max(report.position, 1)
            for stage, seconds in report.stage_cpu_s.items()
        },
        rss_start_mb=report.rss_start_kb / 1024,
        peak_rss_mb=report.hwm_kb / 1024,
        rss_samples=samples,
        cpu_cores=cores(before, after, seconds),
        profiles=profiles,
    )
