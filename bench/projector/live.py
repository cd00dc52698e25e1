"""(c) the projector app under live appends: lag from ledger commit to read-model commit,
at each rate in turn, in one projector process running every partition's worker."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import secrets
import signal
import subprocess
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import msgspec
import nats

from bench.harness import profiling, workers
from bench.harness.loadgen import Spec, WorkerResult
from bench.harness.loggen import log_head
from bench.harness.metrics import bucket_delta, scrape
from bench.harness.metrics import delta as _delta
from bench.harness.metrics import histogram_quantile as _histogram_quantile
from bench.harness.report import ratio as _ratio
from bench.harness.servers import (
    HOST,
    LEDGER_LOG,
    SERVER_STOP_TIMEOUT_S,
    LedgerServer,
    http_json,
    python_env,
    start_service,
    wait_until,
)
from bench.harness.sysinfo import (
    Machine,
    cores,
    percentile,
    status_kb,
)
from bench.projector.models import (
    CATCH_UP_TIMEOUT_S,
    CHECKPOINT_POLL_S,
    OUTBOX_DRAIN_TIMEOUT_S,
    PROFILE_RATE_HZ,
    READY_TIMEOUT_S,
    TARGET_LAG_P99_S,
    LagResult,
    Options,
    log,
)
from bench.projector.rebuild import read_checkpoint
from bench.projector.setup import Keys
from credit_ledger.embedded.processes import free_port, stop_process
from proto.events import SCHEMA_VERSION
from proto.partitions import all_partitions
from proto.subjects import LEDGER_STREAM
from services.common.logs import configure_logging
from services.projector.nats_setup import projector_consumer

# --- (c) live lag --------------------------------------------------------------------------------


def serve_projector() -> int:
    """Runs in its own process: the projector app as ``credit-ledger projector serve``."""
    import uvicorn

    from services.common.settings import load_settings
    from services.projector.app import create_projector_app

    settings = load_settings()
    configure_logging(settings.log.level, settings.log.format)
    uvicorn.run(
        create_projector_app(settings),
        host=settings.http.host,
        port=settings.projector.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return 0


@dataclass(frozen=True)
class LivePhase:
    """An open loop of ``rate`` events/s, ``batch`` events per append, and the lag p99
    it is judged against."""

    rate: float
    batch: int
    target_s: float

    @property
    def clients(self) -> int:
        """Connections of the open loop: single appends wait for a group commit each
        (the write-path benchmark's (b) runs 64 clients), batches need fewer."""
        return 64 if self.batch == 1 else 32

    @property
    def label(self) -> str:
        how = "single appends" if self.batch == 1 else f"batches of {self.batch}"
        return f"(c) live @ {self.rate:,.0f} events/s, {how}"


def projector_log(workdir: Path) -> Path:
    return workdir / "projector-server.log"


def log_offset(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_summary(path: Path, offset: int) -> tuple[dict[str, int], str | None]:
    """What a service logged (at warning and above: the benchmark runs them so) since
    ``offset``: a count per "level event", and the first error's line."""
    counts: dict[str, int] = {}
    first_error: str | None = None
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return counts, None
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError:
            record = None
        if isinstance(record, dict):
            level = str(record.get("level", "?"))
            key = f"{level} {record.get('event', '?')}"
        else:
            level, key = "text", "text (not a JSON log line)"
        counts[key] = counts.get(key, 0) + 1
        if first_error is None and level in {"error", "critical", "text"}:
            first_error = line[:500]
    return counts, first_error


def start_projector(
    workdir: Path,
    database_url: str,
    nats_url: str,
    ledger: LedgerServer,
    token: str,
    options: Options,
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port(HOST)
    env = python_env(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CREDIT_LEDGER_HTTP_HOST": HOST,
            "CREDIT_LEDGER_PROJECTOR_PORT": str(port),
            "CREDIT_LEDGER_LEDGER_URL": ledger.url,
            "CREDIT_LEDGER_PROJECTOR_API_KEY": token,
            "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS": str(options.cache_learners),
            # Every partition's worker in this one process, as the dev stack runs it.
            "CREDIT_LEDGER_PROJECTOR_PARTITIONS": str(options.partitions),
            "CREDIT_LEDGER_PROJECTOR_RUN_PARTITIONS": "all",
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
        }
    )
    process = start_service(
        ["-m", "bench.projector_bench", "_projector"],
        env,
        port,
        projector_log(workdir),
        what="the projector",
        timeout_s=READY_TIMEOUT_S,
    )
    return process, port


async def read_checkpoints(conn: asyncpg.Connection, partitions: int) -> tuple[int, ...]:
    """Each partition's checkpoint (0 for one that has none yet), by partition index."""
    positions = [0] * partitions
    for row in await conn.fetch(
        "SELECT partition, position FROM projector.checkpoints WHERE partitions = $1",
        partitions,
    ):
        positions[row["partition"]] = int(row["position"])
    return tuple(positions)


async def poll_checkpoints(
    url: str,
    partitions: int,
    stop: asyncio.Event,
    samples: list[tuple[float, tuple[int, ...]]],
    ready: asyncio.Event,
) -> None:
    """(time a read-model commit was first seen, every partition's checkpoint) each time one
    moves, polled every CHECKPOINT_POLL_S."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        last: tuple[int, ...] = ()
        ready.set()
        while not stop.is_set():
            positions = await read_checkpoints(conn, partitions)
            seen = time.time()
            if positions != last:
                samples.append((seen, positions))
                last = positions
            await asyncio.sleep(CHECKPOINT_POLL_S)
    finally:
        await conn.close()


def poll_lags_ms(
    polls: list[tuple[float, tuple[int, ...]]], rows: list[asyncpg.Record], partitions: int
) -> list[float]:
    """Each event's lag, sorted: from its commit (recorded_at) to the first poll that saw its
    own partition's checkpoint (a watermark) at or past it."""
    seen: list[tuple[list[float], list[int]]] = []
    for index in range(partitions):
        times: list[float] = []
        positions: list[int] = []
        for at, checkpoint in polls:
            if not positions or checkpoint[index] > positions[-1]:
                times.append(at)
                positions.append(checkpoint[index])
        seen.append((times, positions))
    lags: list[float] = []
    for row in rows:
        bucket = row["bucket"]
        times, positions = seen[0 if bucket is None else bucket % partitions]
        found = bisect.bisect_left(positions, row["position"])
        if found < len(times):
            lags.append((times[found] - row["recorded_at"].timestamp()) * 1000.0)
    lags.sort()
    return lags


async def paced_load(
    folder: Path,
    ledger: LedgerServer,
    token: str,
    options: Options,
    phase: LivePhase,
    learners: int,
) -> WorkerResult:
    """bench.harness.loadgen's open loop: ``phase.rate`` events/s, ``phase.batch`` per append
    (POST /v1/events for one, POST /v1/events/batch for more)."""
    folder.mkdir(exist_ok=True)
    spec = Spec(
        mode="http_paced",
        worker=0,
        clients=phase.clients,
        seconds=options.lag_seconds,
        tag=f"pb{secrets.token_hex(3)}",
        assessed_on=(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat(),
        http_host=HOST,
        http_port=ledger.port,
        token=token,
        rate=phase.rate,
        batch_size=phase.batch,
        learners=learners,
        schema_version=SCHEMA_VERSION,
    )
    (result,) = await workers.run_to_end(folder, [spec], options.lag_seconds + 120)
    return result


async def run_live(
    *,
    log_name: str,
    learners: int,
    phases: list[LivePhase],
    workdir: Path,
    database_url: str,
    nats_url: str,
    ledger: LedgerServer,
    keys: Keys,
    options: Options,
    machine: Machine,
) -> list[LagResult]:
    """One projector process (every partition's worker), then each phase in turn."""
    projector_started_at = log_offset(projector_log(workdir))
    process, port = start_projector(workdir, database_url, nats_url, ledger, keys.auditor, options)
    results: list[LagResult] = []
    try:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            head, _, _ = await log_head(conn)

            async def leading() -> bool:
                status, body = await http_json(port, "GET", "/ready")
                return status == 200 and bool(body.get("leader")) and body.get("checkpoint") == head

            await wait_until("the projector leading at the head", leading, READY_TIMEOUT_S)

            async def outbox_left() -> int:
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM projector.outbox WHERE published_at IS NULL"
                    )
                )

            # A fresh projector database has thresholds to announce: let the publisher
            # send them before the lag is measured.
            left = await outbox_left()
            drained_s = 0.0
            if left:
                log(f"(c) live: waiting for the outbox to publish {left:,} threshold messages")
                with contextlib.suppress(RuntimeError):
                    drained_s = await wait_until(
                        "outbox drained",
                        lambda: _is_zero(outbox_left()),
                        OUTBOX_DRAIN_TIMEOUT_S,
                        0.5,
                    )
                left = await outbox_left()
            for index, phase in enumerate(phases):
                head, _, _ = await log_head(conn)
                # An idle worker moves its watermark to the head within its fetch timeout.
                await wait_until(
                    "every partition at the head",
                    lambda: _at_least(read_checkpoint(conn, options.partitions), head),  # noqa: B023
                    CATCH_UP_TIMEOUT_S,
                    0.05,
                )
                results.append(
                    await _measure(
                        phase=phase,
                        folder=workdir / f"live-load-{log_name}-{index}",
                        log_name=log_name,
                        learners=learners,
                        head=head,
                        conn=conn,
                        port=port,
                        process=process,
                        database_url=database_url,
                        nats_url=nats_url,
                        ledger=ledger,
                        keys=keys,
                        options=options,
                        machine=machine,
                        drained_s=drained_s if index == 0 else 0.0,
                        left=left if index == 0 else 0,
                        log_from_start=projector_started_at if index == 0 else None,
                    )
                )
        finally:
            await conn.close()
    finally:
        stopping_at = log_offset(projector_log(workdir))
        stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
    if results:
        # What it logged on its way out (SIGTERM, as a supervisor stops it).
        logged, first = log_summary(projector_log(workdir), stopping_at)
        results[-1].projector_stop_logged = logged
        results[-1].projector_stop_first_error = first
    return results


async def _measure(
    *,
    phase: LivePhase,
    folder: Path,
    log_name: str,
    learners: int,
    head: int,
    conn: asyncpg.Connection,
    port: int,
    process: subprocess.Popen[bytes],
    database_url: str,
    nats_url: str,
    ledger: LedgerServer,
    keys: Keys,
    options: Options,
    machine: Machine,
    drained_s: float,
    left: int,
    log_from_start: int | None,
) -> LagResult:
    label = f"{phase.label} ({log_name} log)"
    partitions = options.partitions
    projector_log_path = projector_log(folder.parent)
    ledger_log_path = folder.parent / LEDGER_LOG
    # The first phase's summary includes the projector's start.
    projector_offset = log_offset(projector_log_path) if log_from_start is None else log_from_start
    ledger_offset = log_offset(ledger_log_path)
    log(f"{label}: appending for {options.lag_seconds:g} s")
    projector_before = await scrape(port)
    ledger_before = await scrape(ledger.port)
    stop = asyncio.Event()
    poller_ready = asyncio.Event()
    polls: list[tuple[float, tuple[int, ...]]] = []
    poller = asyncio.create_task(
        poll_checkpoints(database_url, partitions, stop, polls, poller_ready)
    )
    await asyncio.wait_for(poller_ready.wait(), 10)
    spy = None
    name = f"live-{log_name}-{phase.rate:.0f}-projector"
    spy_output = (options.profile_dir or folder) / f"{name}.collapsed.txt"
    if options.profile_dir is not None:
        spy = await profiling.start(process.pid, spy_output, PROFILE_RATE_HZ)
    cpu_before = machine.snapshot({"projector": process.pid})
    load_started = time.perf_counter()
    try:
        result = await paced_load(
            folder, ledger, keys.institutions["NSTI-CHENNAI"], options, phase, learners
        )
        load_seconds = time.perf_counter() - load_started
        cpu_after = machine.snapshot({"projector": process.pid})
        new_head, _, _ = await log_head(conn)
        rows = await conn.fetch(
            "SELECT position, recorded_at, bucket FROM ledger.events"
            " WHERE position > $1 AND position <= $2 ORDER BY position",
            head,
            new_head,
        )
        # Caught up: each partition's checkpoint at its own last event (a partition moves
        # past the others' events only once idle).
        last = [0] * partitions
        for row in rows:
            if row["bucket"] is not None:
                last[row["bucket"] % partitions] = row["position"]

        async def caught_up() -> bool:
            positions = await read_checkpoints(conn, partitions)
            return all(p >= floor for p, floor in zip(positions, last, strict=True))

        caught_up_s = await wait_until(
            "the projector caught up", caught_up, CATCH_UP_TIMEOUT_S, 0.05
        )
        await asyncio.sleep(0.3)  # the metric is observed after the acks
    finally:
        stop.set()
        await poller
        if spy is not None:
            await profiling.stop(spy)
    profiles = []
    if spy is not None and (summary := profiling.summarize("projector", spy_output)):
        profiles.append(summary)
    projector_after = await scrape(port)
    ledger_after = await scrape(ledger.port)
    redelivered, ack_wait_s = await consumer_facts(nats_url, partitions)
    status, ready = await http_json(port, "GET", "/ready")
    cached = (
        sum(int(p.get("cached_learners") or 0) for p in ready.get("partitions") or [])
        if status == 200 and ready
        else None
    )
    peak_mb = status_kb(process.pid, "VmHWM") / 1024
    projector_logged, projector_error = log_summary(projector_log_path, projector_offset)
    ledger_logged, ledger_error = log_summary(ledger_log_path, ledger_offset)
    poll_lags = poll_lags_ms(polls, rows, partitions)
    lag = bucket_delta(projector_before, projector_after, "projector_lag_seconds")
    relay = bucket_delta(ledger_before, ledger_after, "ledger_relay_lag_seconds")
    total = max(lag.values(), default=0.0)
    batches = _delta(projector_before, projector_after, "projector_batch_seconds_count")
    latencies = sorted(result.latencies_ms)
    cpu = cores(cpu_before, cpu_after, load_seconds)
    cpu["loadgen"] = result.cpu_s / max(load_seconds, 1e-6)
    cpu["other"] = max(0.0, cpu["other"] - cpu["loadgen"])
    target = phase.target_s
    return LagResult(
        log=log_name,
        target_rate=phase.rate,
        batch=phase.batch,
        clients=phase.clients,
        partitions=partitions,
        seconds=result.elapsed_s,
        appended=result.events,
        append_errors=result.errors,
        first_error=result.first_error,
        append_p50_ms=percentile(latencies, 0.50),
        append_p99_ms=percentile(latencies, 0.99),
        late_sends=result.late_sends,
        outbox_drained_s=drained_s,
        outbox_left=left,
        caught_up_s=caught_up_s,
        metric_count=int(total),
        metric_p50_ms=_histogram_quantile(lag, 0.50) * 1000.0,
        metric_p99_ms=_histogram_quantile(lag, 0.99) * 1000.0,
        metric_share_within_100ms=lag.get(TARGET_LAG_P99_S, 0.0) / total if total else 0.0,
        metric_share_within_target=lag.get(target, 0.0) / total if total else 0.0,
        target_p99_ms=target * 1000.0,
        poll_count=len(poll_lags),
        poll_p50_ms=percentile(poll_lags, 0.50),
        poll_p99_ms=percentile(poll_lags, 0.99),
        poll_max_ms=poll_lags[-1] if poll_lags else 0.0,
        relay_p50_ms=_histogram_quantile(relay, 0.50) * 1000.0,
        relay_p99_ms=_histogram_quantile(relay, 0.99) * 1000.0,
        projector_peak_rss_mb=peak_mb,
        cached_learners=cached,
        applied=int(_delta(projector_before, projector_after, "projector_events_applied_total")),
        gap_filled=int(
            _delta(projector_before, projector_after, "projector_events_gap_filled_total")
        ),
        batches=int(batches),
        mean_batch_ms=_ratio(
            _delta(projector_before, projector_after, "projector_batch_seconds_sum") * 1000,
            batches,
        ),
        redelivered_pending=redelivered,
        consumer_ack_wait_s=ack_wait_s,
        projector_logged=projector_logged,
        projector_first_error=projector_error,
        ledger_logged=ledger_logged,
        ledger_first_error=ledger_error,
        profiles=profiles,
        cpu_cores=cpu,
    )


async def consumer_facts(nats_url: str, partitions: int) -> tuple[int, float]:
    """(messages now pending redelivery, effective ack wait in s) of the projector's
    partitions' consumers."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=10)
        infos = [
            await js.consumer_info(LEDGER_STREAM, projector_consumer(partition))
            for partition in all_partitions(partitions)
        ]
    finally:
        await nc.close()
    redelivered = sum(int(info.num_redelivered or 0) for info in infos)
    return redelivered, max(float(info.config.ack_wait or 0.0) for info in infos)


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def _at_least(value: Awaitable[int], floor: int) -> bool:
    return await value >= floor
