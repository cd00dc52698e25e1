"""The projector benchmark's run: the small log ((b), (c) for the memory checks), then the
big log ((a), (b) in each layout, (c) at each rate)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness.loggen import log_head
from bench.harness.metrics import scrape
from bench.harness.servers import (
    LedgerServer,
    load_catalog,
    pid_from,
    wait_until,
)
from bench.harness.sysinfo import (
    Machine,
)
from bench.projector.live import LivePhase, run_live
from bench.projector.models import (
    SMALL_DATABASE,
    TARGET_FAST_LAG_P99_S,
    TARGET_LAG_P99_S,
    LagResult,
    LogFacts,
    Options,
    ReadResult,
    RebuildResult,
    log,
)
from bench.projector.reads import read_ndjson, read_with_ledger_client, scan_database
from bench.projector.rebuild import run_rebuild
from bench.projector.setup import (
    Keys,
    create_keys,
    empty_ledger_stream,
    generate_log,
    relay_published,
    start_ledger,
)
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.infra import apply_migrations, declare_streams

# --- the run --------------------------------------------------------------------------------------


async def prepare_log(
    *,
    label: str,
    workdir: Path,
    database_url: str,
    nats_url: str,
    events: int,
    learners: int,
    tag: str,
    seed: int,
) -> tuple[Keys, LogFacts]:
    """Keys, the demo catalog through the ledger's API, then the generated passes."""
    await apply_migrations(database_url)
    keys = await create_keys(database_url, tag)
    relay = bool(nats_url)
    server = await start_ledger(workdir, database_url, nats_url, relay=relay, name=label)
    try:
        await load_catalog(server.port, keys.admin)
        if relay:
            conn = await asyncpg.connect(database_url, timeout=10)
            try:
                head, _, _ = await log_head(conn)
            finally:
                await conn.close()
            await wait_until(
                "the relay published the catalog", lambda: relay_published(server, head), 60
            )
    finally:
        # Nothing may read the log while it is being generated (the relay polls it).
        server.stop()
    facts = await generate_log(database_url, label, events, learners, keys.key_ids, seed)
    return keys, facts


def live_phases(options: Options) -> list[LivePhase]:
    phases = [LivePhase(options.rate, options.batch, TARGET_LAG_P99_S)]
    if options.fast_rate > 0:
        phases.append(LivePhase(options.fast_rate, options.fast_batch, TARGET_FAST_LAG_P99_S))
    return phases


def layouts(options: Options) -> list[int]:
    """One partition, then the shipped layout: the read model is left in the layout the
    live projector runs (a rebuild drops every other layout's checkpoints)."""
    return [1, options.partitions] if options.partitions > 1 else [1]


async def rebuild_layouts(
    *,
    log_name: str,
    facts: LogFacts,
    runs: int,
    database_url: str,
    server: LedgerServer,
    token: str,
    options: Options,
    machine: Machine,
    workdir: Path,
) -> list[RebuildResult]:
    results: list[RebuildResult] = []
    for run_index in range(runs):
        for partitions in layouts(options):
            how = "one process" if partitions == 1 else "a process each"
            label = (
                f"(b) rebuild {partitions} partition{'s' if partitions > 1 else ''} ({how}),"
                f" {log_name} log"
            )
            log(f"{label}{f', run {run_index + 1}/{runs}' if runs > 1 else ''}")
            result = await run_rebuild(
                label=label,
                log_name=log_name,
                partitions=partitions,
                run=run_index,
                workdir=workdir,
                database_url=database_url,
                server=server,
                token=token,
                facts=facts,
                options=options,
                machine=machine,
                profile_name=f"rebuild-{partitions}p"
                if log_name == "big" and run_index == 0
                else None,
            )
            log(
                f"{label}: {result.events_per_s:,.0f} events/s,"
                f" {result.events_per_cpu_s:,.0f} events per CPU-second,"
                f" peak RSS {result.peak_rss_mb:,.0f} MB per process"
                f" ({result.peak_rss_sum_mb:,.0f} MB summed)"
            )
            results.append(result)
            if result.timed_out:
                return results
    return results


async def run(
    options: Options, workdir: Path, postgres_url: str, nats_url: str, machine: Machine
) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    report: dict[str, Any] = {"reads": [], "rebuilds": [], "live": None, "live_runs": []}
    phases = live_phases(options)
    small_rebuilds: list[RebuildResult] = []
    small_live: list[LagResult] = []
    if options.small_events > 0:
        small_rebuilds, small_live, report["small_log"] = await run_small(
            options, workdir, postgres_url, machine, tag, phases
        )

    label = f"log ({options.events:,}/{options.learners:,})"
    keys, facts = await prepare_log(
        label=label,
        workdir=workdir,
        database_url=postgres_url,
        nats_url=nats_url,
        events=options.events,
        learners=options.learners,
        tag=tag,
        seed=1,
    )
    report["log"] = facts
    await empty_ledger_stream(nats_url, postgres_url)
    server = await start_ledger(workdir, postgres_url, nats_url, relay=True, name="main")
    machine.roots["ledger"] = server.process.pid
    try:
        await wait_until(
            "the relay resumed at the head", lambda: relay_published(server, facts.head), 60
        )
        republished = (await scrape(server.port)).get("ledger_relay_published_total", 0.0)
        if republished:
            raise RuntimeError(f"the relay re-published {republished:.0f} old events")
        log(f"ledger on {server.url}; its relay resumed at the head ({facts.head:,})")
        reads: list[ReadResult] = []
        log("(a) scanning ledger.events with an asyncpg cursor")
        reads.append(await scan_database(postgres_url, machine))
        log("(a) reading GET /v1/log/ndjson")
        reads.append(await read_ndjson(server, keys.auditor, machine))
        if options.client_read:
            log("(a') reading GET /v1/log/ndjson through the projector's LedgerClient")
            reads.append(await read_with_ledger_client(server, keys.auditor, machine))
        for read in reads:
            log(
                f"{read.label}: {read.events:,} events in {read.seconds:.1f} s, {read.events_per_s:,.0f} events/s"
            )
            if read.events != facts.head:
                raise RuntimeError(
                    f"{read.label} read {read.events} events; the head is {facts.head}"
                )
        report["reads"] = reads
        big = await rebuild_layouts(
            log_name="big",
            facts=facts,
            runs=options.repeat,
            database_url=postgres_url,
            server=server,
            token=keys.auditor,
            options=options,
            machine=machine,
            workdir=workdir,
        )
        report["rebuilds"] = big + small_rebuilds
        if big[-1].timed_out:
            log("the rebuild did not finish: the live phase needs a complete read model; skipped")
        else:
            live = await run_live(
                log_name="big",
                learners=options.learners,
                phases=phases,
                workdir=workdir,
                database_url=postgres_url,
                nats_url=nats_url,
                ledger=server,
                keys=keys,
                options=options,
                machine=machine,
            )
            report["live"] = live[0]
            report["live_fast"] = live[1] if len(live) > 1 else None
            report["live_runs"] = live + small_live
    finally:
        server.stop()
    return report


async def run_small(
    options: Options,
    workdir: Path,
    postgres_url: str,
    machine: Machine,
    tag: str,
    phases: list[LivePhase],
) -> tuple[list[RebuildResult], list[LagResult], LogFacts]:
    """The smaller log of the memory checks, in a database and a nats-server of its own
    (its ledger's relay and its projector's consumers must not meet the big log's)."""
    admin = await asyncpg.connect(postgres_url, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SMALL_DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {SMALL_DATABASE}")
    finally:
        await admin.close()
    small_url = postgres_url.rsplit("/", 1)[0] + "/" + SMALL_DATABASE
    small_nats = EmbeddedNats(workdir / "nats-small")
    main_nats = machine.roots.get("nats")
    small_nats.start()
    try:
        await declare_streams(small_nats.url, 1)
        if pid := pid_from(small_nats.store_dir / "nats-server.pid"):
            machine.roots["nats"] = pid
        keys, facts = await prepare_log(
            label=f"small log ({options.small_events:,}/{options.small_learners:,})",
            workdir=workdir,
            database_url=small_url,
            nats_url=small_nats.url,
            events=options.small_events,
            learners=options.small_learners,
            tag=tag,
            seed=2,
        )
        await empty_ledger_stream(small_nats.url, small_url)
        server = await start_ledger(workdir, small_url, small_nats.url, relay=True, name="small")
        machine.roots["ledger"] = server.process.pid
        try:
            await wait_until(
                "the small log's relay resumed at the head",
                lambda: relay_published(server, facts.head),
                60,
            )
            rebuilds = await rebuild_layouts(
                log_name="small",
                facts=facts,
                runs=1,
                database_url=small_url,
                server=server,
                token=keys.auditor,
                options=options,
                machine=machine,
                workdir=workdir,
            )
            live: list[LagResult] = []
            if not rebuilds[-1].timed_out:
                live = await run_live(
                    log_name="small",
                    learners=options.small_learners,
                    phases=phases,
                    workdir=workdir,
                    database_url=small_url,
                    nats_url=small_nats.url,
                    ledger=server,
                    keys=keys,
                    options=options,
                    machine=machine,
                )
        finally:
            server.stop()
    finally:
        small_nats.destroy()
        if main_nats is not None:
            machine.roots["nats"] = main_nats
    admin = await asyncpg.connect(postgres_url, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SMALL_DATABASE} WITH (FORCE)")
    finally:
        await admin.close()
    return rebuilds, live, facts
