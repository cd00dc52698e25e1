"""The projector's benchmark: the log's raw read rate, a full rebuild, and live lag.

    .venv/bin/python -m bench.projector_bench [--events N] [--learners M] [--quick] [--json PATH]

In one run, on one embedded PostgreSQL (fsync on) and one nats-server:

- generates a log of N AssessmentPassed events (default 1,000,000) for M learners (default
  100,000) after the demo catalog: the catalog goes through the real ledger's HTTP API, the
  passes are COPYed straight into ``ledger.events`` (as the ledger would have recorded them:
  catalog snapshot, stream versions, metadata, increasing recorded_at, a valid hash chain);
- (a) reads the whole log in position order three ways: an asyncpg cursor over the table,
  the ledger's ``GET /v1/log/ndjson`` read by a lean client, and the same stream read by the
  projector's own ``LedgerClient`` (decoded, not applied);
- (b) rebuilds the read model with ``services.projector.rebuild.rebuild_reporting`` in a
  process of its own, first as one partition (in that process), then as all partitions of
  the shipped layout at once (a spawned process each), each from an empty read model, and
  reports for each: events/s, the CPU seconds of every process (ledger, PostgreSQL, the
  rebuild and its partition processes), events per CPU-second, and every process's peak
  memory (VmHWM); the same two rebuilds of a log with a fifth of the events and learners
  (another database and nats-server) show whether memory grows with the log;
- (c) starts the projector (``create_projector_app`` under uvicorn, its own process, every
  partition's worker in it), appends 1,000 events/s one event per POST /v1/events, then
  3,000 events/s in batches of 10 (open loops), and measures the lag from each event's
  commit in the ledger to its read-model commit: the projector's ``projector_lag_seconds``
  histogram, a 5 ms poll of the partitions' checkpoints, and the relay's share (the
  ledger's ``ledger_relay_lag_seconds``); then the same on the smaller log, for memory.

It prints a verdict table of the targets (rebuild of all partitions >= 35,000 events/s, of
one >= 25,000; events per CPU-second within 15 %; lag p99 < 100 ms at 1,000 events/s and
< 250 ms at 3,000; peak memory big log / small log <= 1.2 in rebuild and live) and can
write every figure as JSON. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec

from bench.harness.servers import pid_from as _pid_from
from bench.harness.sysinfo import (
    Machine,
    fdatasync_probe_us,
    filesystem_of,
    machine_facts,
)
from bench.projector.live import serve_projector
from bench.projector.models import Options, log
from bench.projector.rebuild import child_rebuild
from bench.projector.report import checks, render
from bench.projector.run import run
from bench.projector.setup import database_facts
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.infra import apply_migrations, declare_streams
from proto.partitions import BUCKETS
from services.common.logs import configure_logging
from services.common.settings.projector import DEFAULT_PARTITIONS

# --- entry point ----------------------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.projector_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, help="AssessmentPassed events (default 1,000,000)")
    parser.add_argument("--learners", type=int, help="learners (default 100,000)")
    parser.add_argument(
        "--small-events",
        type=int,
        help="events of the second, smaller log for the memory check (default events/5; 0: none)",
    )
    parser.add_argument("--small-learners", type=int, help="its learners (default learners/5)")
    parser.add_argument(
        "--cache-learners", type=int, help="the projector's bank cache (default 10,000)"
    )
    parser.add_argument("--lag-seconds", type=float, help="seconds of live appends (default 10)")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="live events/s of the first phase (default 1000)"
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="its events per append (default 1: POST /v1/events)"
    )
    parser.add_argument(
        "--fast-rate",
        type=float,
        default=3000.0,
        help="live events/s of the second phase (default 3000; 0: none)",
    )
    parser.add_argument(
        "--fast-batch",
        type=int,
        default=10,
        help="its events per POST /v1/events/batch (default 10)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"the layout rebuilt at once and run live (default {DEFAULT_PARTITIONS}, the shipped one)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rebuild the big log this many times per layout; report the medians (default 1)",
    )
    parser.add_argument(
        "--rebuild-timeout", type=float, default=480.0, help="stop a rebuild after this (partial)"
    )
    parser.add_argument(
        "--no-client-read",
        action="store_true",
        help="skip (a'), the read through the projector's LedgerClient",
    )
    parser.add_argument("--quick", action="store_true", help="100,000 events, a smoke run")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the results here")
    parser.add_argument(
        "--data-dir", type=Path, help="where the embedded servers keep data (default: a temp dir)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        dest="profile_dir",
        help="record the rebuild and the ledger with py-spy during (b); collapsed stacks go here",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        dest="logs_dir",
        help="copy the services' logs (ledger, projector, rebuilds' stderr) here at the end",
    )
    args = parser.parse_args(argv)
    events = args.events or (100_000 if args.quick else 1_000_000)
    learners = args.learners or (10_000 if args.quick else 100_000)
    cache = args.cache_learners or (1_000 if args.quick else 10_000)
    # The memory check compares two logs with as many events per learner, both with more
    # learners than the cache holds: a fifth of the learners, or twice the cache if a fifth
    # would fit in it (at most half the learners).
    small_learners = args.small_learners or max(1, learners // 5)
    if args.small_learners is None and small_learners <= cache:
        small_learners = max(1, min(2 * cache, learners // 2))
    small_events = (
        small_learners * events // learners if args.small_events is None else args.small_events
    )
    lag_seconds = args.lag_seconds or (3.0 if args.quick else 10.0)
    if not 1 <= events <= 20_000_000 or not 1 <= learners <= events:
        parser.error("--events must be 1..20,000,000 and --learners 1..events")
    if small_events < 0 or (small_events and not 1 <= small_learners <= small_events):
        parser.error("--small-learners must be 1..small events")
    if not 1 <= cache <= 10_000_000:
        parser.error("--cache-learners must be 1..10,000,000")
    if not 0 < lag_seconds <= 300 or not 0 < args.rate <= 20_000:
        parser.error("--lag-seconds must be within (0, 300] and --rate within (0, 20,000]")
    if not 0 <= args.fast_rate <= 20_000:
        parser.error("--fast-rate must be within [0, 20,000]")
    if not 1 <= args.batch <= 1000 or not 1 <= args.fast_batch <= 1000:
        parser.error("--batch and --fast-batch must be 1..1000")
    if not 1 <= args.partitions <= BUCKETS:
        parser.error(f"--partitions must be 1..{BUCKETS}")
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat must be 1..9")
    if not 10 <= args.rebuild_timeout <= 3600:
        parser.error("--rebuild-timeout must be 10..3600 s")
    return Options(
        events=events,
        learners=learners,
        small_events=small_events,
        small_learners=small_learners,
        cache_learners=cache,
        lag_seconds=lag_seconds,
        rate=args.rate,
        batch=args.batch,
        fast_rate=args.fast_rate,
        fast_batch=args.fast_batch,
        partitions=args.partitions,
        repeat=args.repeat,
        rebuild_timeout_s=args.rebuild_timeout,
        client_read=not args.no_client_read,
        quick=args.quick,
        json_path=args.json_path,
        data_dir=args.data_dir,
        profile_dir=args.profile_dir,
        logs_dir=args.logs_dir,
    )


def jetstream_sync_interval(server: EmbeddedNats) -> str:
    """The sync_interval of the embedded nats-server's configuration ("always": an fsync
    per write), as it was started."""
    try:
        text = (server.store_dir / "nats-server.conf").read_text()
    except OSError:
        return "?"
    match = re.search(r"^\s*sync_interval:\s*(\S+)", text, re.MULTILINE)
    return match.group(1).strip("\"'") if match else "default"


def keep_logs(workdir: Path, folder: Path) -> None:
    """The services' logs, before the working directory goes."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in [*workdir.glob("*.log"), *workdir.glob("rebuild-*/stderr.txt")]:
        name = path.name if path.parent == workdir else f"{path.parent.name}-{path.name}"
        shutil.copyfile(path, folder / name)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_rebuild"] and len(args) == 3:
        return child_rebuild(Path(args[1]), Path(args[2]))
    if args[:1] == ["_projector"]:
        return serve_projector()
    options = parse_options(args)
    configure_logging("warning", "console")
    signal.signal(signal.SIGTERM, _interrupt)
    if options.data_dir is not None:
        options.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="projector-bench-", dir=options.data_dir))
    postgres: EmbeddedPostgres | None = None
    nats_server: EmbeddedNats | None = None
    started = time.perf_counter()
    try:
        fsync_us = fdatasync_probe_us(workdir)
        postgres = EmbeddedPostgres(workdir / "postgres", fsync=True)
        log(f"starting embedded PostgreSQL (fsync on) in {postgres.data_dir}")
        postgres.start()
        nats_server = EmbeddedNats(workdir / "nats")
        nats_server.start()
        asyncio.run(apply_migrations(postgres.url))
        asyncio.run(declare_streams(nats_server.url, 1))
        machine = Machine()
        if pid := _pid_from(postgres.data_dir / "postmaster.pid"):
            machine.roots["postgres"] = pid
        if pid := _pid_from(nats_server.store_dir / "nats-server.pid"):
            machine.roots["nats"] = pid
        db_facts = asyncio.run(database_facts(postgres.url))
        results = asyncio.run(run(options, workdir, postgres.url, nats_server.url, machine))
        report: dict[str, Any] = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_facts(),
            "database": db_facts,
            "jetstream_sync_interval": jetstream_sync_interval(nats_server),
            "fdatasync_us": fsync_us,
            "data_filesystem": filesystem_of(workdir),
            "options": {
                "events": options.events,
                "learners": options.learners,
                "small_events": options.small_events,
                "small_learners": options.small_learners,
                "cache_learners": options.cache_learners,
                "lag_seconds": options.lag_seconds,
                "rate": options.rate,
                "batch": options.batch,
                "fast_rate": options.fast_rate,
                "fast_batch": options.fast_batch,
                "partitions": options.partitions,
                "repeat": options.repeat,
                "quick": options.quick,
            },
            **results,
            "wall_seconds": time.perf_counter() - started,
        }
        report["checks"] = checks(report)
        print(render(report), flush=True)
        log(f"done in {report['wall_seconds']:.0f} s")
        if options.json_path is not None:
            options.json_path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
            log(f"results written to {options.json_path}")
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        if nats_server is not None:
            nats_server.destroy()
        if postgres is not None:
            postgres.destroy()
        if options.logs_dir is not None:
            keep_logs(workdir, options.logs_dir)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
