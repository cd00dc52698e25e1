"""(c) the projector app under live appends: lag from ledger commit to read-model commit."""

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
from pathlib import Path

import asyncpg
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
from bench.projector.rebuild import read_checkpoint, status_kb
from bench.projector.setup import Keys
from credit_ledger.embedded.processes import free_port, stop_process
from proto.events import SCHEMA_VERSION
from proto.partitions import all_partitions
from proto.subjects import LEDGER_STREAM
from services.common.logs import configure_logging
from services.common.settings.projector import DEFAULT_PARTITIONS
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


def start_projector(
    workdir: Path,
    database_url: str,
    nats_url: str,
    ledger: LedgerServer,
    token: str,
    cache_learners: int,
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
            "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS": str(cache_learners),
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
        }
    )
    process = start_service(
        ["-m", "bench.projector_bench", "_projector"],
        env,
        port,
        workdir / "projector-server.log",
        what="the projector",
        timeout_s=READY_TIMEOUT_S,
    )
    return process, port


async def poll_checkpoint(
    url: str, stop: asyncio.Event, samples: list[tuple[float, int]], ready: asyncio.Event
) -> None:
    """(time the read-model commit was first seen, checkpoint) every CHECKPOINT_POLL_S."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        last = -1
        ready.set()
        while not stop.is_set():
            position = await read_checkpoint(conn)
            seen = time.time()
            if position != last:
                samples.append((seen, position))
                last = position
            await asyncio.sleep(CHECKPOINT_POLL_S)
    finally:
        await conn.close()


async def paced_load(
    workdir: Path, ledger: LedgerServer, token: str, options: Options
) -> WorkerResult:
    """bench.harness.loadgen's open loop: ``rate`` events/s, ``batch`` per POST /v1/events/batch."""
    folder = workdir / "live-load"
    folder.mkdir(exist_ok=True)
    spec = Spec(
        mode="http_paced",
        worker=0,
        clients=options.clients,
        seconds=options.lag_seconds,
        tag=f"pb{secrets.token_hex(3)}",
        assessed_on=(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat(),
        http_host=HOST,
        http_port=ledger.port,
        token=token,
        rate=options.rate,
        batch_size=options.batch,
        learners=options.learners,
        schema_version=SCHEMA_VERSION,
    )
    (result,) = await workers.run_to_end(folder, [spec], options.lag_seconds + 120)
    return result


async def run_live(
    *,
    workdir: Path,
    database_url: str,
    nats_url: str,
    ledger: LedgerServer,
    keys: Keys,
    options: Options,
    machine: Machine,
) -> LagResult:
    label = f"(c) live @ {options.rate:,.0f} events/s"
    process, port = start_projector(
        workdir, database_url, nats_url, ledger, keys.auditor, options.cache_learners
    )
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

            # The rebuild queued every threshold it decided (a fresh projector database):
            # let the publisher send them before the lag is measured.
            left = await outbox_left()
            drained_s = 0.0
            if left:
                log(f"{label}: waiting for the outbox to publish {left:,} threshold messages")
                with contextlib.suppress(RuntimeError):
                    drained_s = await wait_until(
                        "outbox drained",
                        lambda: _is_zero(outbox_left()),
                        OUTBOX_DRAIN_TIMEOUT_S,
                        0.5,
                    )
                left = await outbox_left()
            log(f"{label}: appending for {options.lag_seconds:g} s")
            projector_before = await scrape(port)
            ledger_before = await scrape(ledger.port)
            stop = asyncio.Event()
            poller_ready = asyncio.Event()
            polls: list[tuple[float, int]] = []
            poller = asyncio.create_task(poll_checkpoint(database_url, stop, polls, poller_ready))
            await asyncio.wait_for(poller_ready.wait(), 10)
            spy = None
            spy_output = (options.profile_dir or workdir) / "live-projector.collapsed.txt"
            if options.profile_dir is not None:
                spy = await profiling.start(process.pid, spy_output, PROFILE_RATE_HZ)
            cpu_before = machine.snapshot({"projector": process.pid})
            load_started = time.perf_counter()
            try:
                result = await paced_load(
                    workdir, ledger, keys.institutions["NSTI-CHENNAI"], options
                )
                load_seconds = time.perf_counter() - load_started
                cpu_after = machine.snapshot({"projector": process.pid})
                new_head, _, _ = await log_head(conn)
                caught_up_s = await wait_until(
                    "the projector caught up",
                    lambda: _at_least(read_checkpoint(conn), new_head),
                    CATCH_UP_TIMEOUT_S,
                    0.05,
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
            redelivered, ack_wait_s = await consumer_facts(nats_url)
            status, ready = await http_json(port, "GET", "/ready")
            rows = await conn.fetch(
                "SELECT position, recorded_at FROM ledger.events"
                " WHERE position > $1 AND position <= $2 ORDER BY position",
                head,
                new_head,
            )
        finally:
            await conn.close()
        peak_mb = status_kb(process.pid, "VmHWM") / 1024
    finally:
        stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
    positions = [p for _, p in polls]
    poll_lags: list[float] = []
    for row in rows:
        index = bisect.bisect_left(positions, row["position"])
        if index < len(polls):
            poll_lags.append((polls[index][0] - row["recorded_at"].timestamp()) * 1000.0)
    poll_lags.sort()
    lag = bucket_delta(projector_before, projector_after, "projector_lag_seconds")
    relay = bucket_delta(ledger_before, ledger_after, "ledger_relay_lag_seconds")
    total = max(lag.values(), default=0.0)
    batches = _delta(projector_before, projector_after, "projector_batch_seconds_count")
    latencies = sorted(result.latencies_ms)
    cpu = cores(cpu_before, cpu_after, load_seconds)
    cpu["loadgen"] = result.cpu_s / max(load_seconds, 1e-6)
    cpu["other"] = max(0.0, cpu["other"] - cpu["loadgen"])
    return LagResult(
        target_rate=options.rate,
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
        poll_count=len(poll_lags),
        poll_p50_ms=percentile(poll_lags, 0.50),
        poll_p99_ms=percentile(poll_lags, 0.99),
        poll_max_ms=poll_lags[-1] if poll_lags else 0.0,
        relay_p50_ms=_histogram_quantile(relay, 0.50) * 1000.0,
        relay_p99_ms=_histogram_quantile(relay, 0.99) * 1000.0,
        projector_peak_rss_mb=peak_mb,
        cached_learners=ready.get("cached_learners") if status == 200 and ready else None,
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
        profiles=profiles,
        cpu_cores=cpu,
    )


async def consumer_facts(nats_url: str) -> tuple[int, float]:
    """(messages now pending redelivery, effective ack wait in s) of the projector's
    partitions' consumers (the dev stack's layout)."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=10)
        infos = [
            await js.consumer_info(LEDGER_STREAM, projector_consumer(partition))
            for partition in all_partitions(DEFAULT_PARTITIONS)
        ]
    finally:
        await nc.close()
    redelivered = sum(int(info.num_redelivered or 0) for info in infos)
    return redelivered, max(float(info.config.ack_wait or 0.0) for info in infos)


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def _at_least(value: Awaitable[int], floor: int) -> bool:
    return await value >= floor
