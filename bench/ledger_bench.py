"""The ledger's write-path benchmark: raw PostgreSQL limits against the ledger's HTTP appends.

    .venv/bin/python -m bench.ledger_bench [--quick] [--seconds N] [--repeat N] [--json PATH]

In one run, on one PostgreSQL (fsync on: durability is what is measured) and one
nats-server, with the real ledger app under uvicorn in its own process:

(a) raw single-row INSERT + commit from 32 connections (the per-event-commit limit);
(b) the ledger's HTTP single-event append with 64 concurrent clients;
(c) the ledger's HTTP batch append, 1000 events per request;
(d) raw COPY of as many rows as (c) appended, 1000 rows per COPY + commit;
then the relay lag from commit to JetStream acknowledgement at 1,000 events/s.

It prints events/s and p50/p99 latency per scenario, the CPU each process used, and every
target of the write path (bench/ledger/targets.py) with its verdict, and can write
everything as JSON.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from bench.harness.report import write_json
from bench.harness.servers import (
    HOST,
    SERVER_STOP_TIMEOUT_S,
    embedded_roots,
    server_environment,
    start_server,
)
from bench.harness.sysinfo import (
    fdatasync_probe_us,
    filesystem_of,
    machine_facts,
)
from bench.ledger.import_phase import phase_import
from bench.ledger.models import Bench, Options, PhaseResult, RelayResult, log
from bench.ledger.peer_run import run_peer
from bench.ledger.phases import (
    _median_result,
    after_phase,
    phase_copy,
    phase_http_batch,
    phase_http_single,
    phase_raw_insert,
)
from bench.ledger.publish_ceiling import publish_ceiling
from bench.ledger.relay import phase_relay
from bench.ledger.report import render
from bench.ledger.setup import (
    create_keys,
    database_facts,
    drop_raw_table,
    load_catalog,
    prepare_database,
    wait_ready,
    warm_up,
)
from bench.ledger.targets import checks
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import free_port, stop_process
from credit_ledger.infra import declare_streams
from services.common.logs import configure_logging

CEILING_MESSAGES = 20_000


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
    imported = await phase_import(bench)
    relay = await phase_relay(bench)
    log(
        f"relay: p99 {relay.metric_p99_ms:.1f} ms (metric),"
        f" {relay.subscriber_p99_ms:.1f} ms (subscriber)"
    )
    ceiling = await publish_ceiling(bench.nats_url, CEILING_MESSAGES)
    log(f"raw publish_async burst (the relay's ceiling): {ceiling:,.0f} messages/s")
    peer = await run_peer(bench)
    return {
        "phases": phases,
        "import": imported,
        "relay": relay,
        "peer": peer,
        "publish_ceiling": ceiling,
    }


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
        roots = {"server": server.pid, **embedded_roots(postgres, nats_server)}
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
            "import": results["import"],
            "relay": relay,
            "peer": results["peer"],
            "publish_ceiling_per_s": results["publish_ceiling"],
            "checks": checks(
                phases, relay, results["peer"], results["publish_ceiling"], results["import"]
            ),
        }
        print(render(report), flush=True)
        if options.json_path is not None:
            write_json(options.json_path, report)
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
