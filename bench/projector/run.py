"""The projector benchmark's run: the logs, then (a), (b) and (c) in order."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness.loggen import log_head
from bench.harness.metrics import scrape
from bench.harness.servers import (
    load_catalog,
    wait_until,
)
from bench.harness.sysinfo import (
    Machine,
)
from bench.projector.live import run_live
from bench.projector.models import SMALL_DATABASE, LogFacts, Options, ReadResult, RebuildResult, log
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
from credit_ledger.infra import apply_migrations

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


async def run(
    options: Options, workdir: Path, postgres_url: str, nats_url: str, machine: Machine
) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    report: dict[str, Any] = {"reads": [], "rebuilds": []}
    small: RebuildResult | None = None
    if options.small_events > 0:
        admin = await asyncpg.connect(postgres_url, timeout=10)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {SMALL_DATABASE}")
            await admin.execute(f"CREATE DATABASE {SMALL_DATABASE}")
        finally:
            await admin.close()
        small_url = postgres_url.rsplit("/", 1)[0] + "/" + SMALL_DATABASE
        small_label = f"small log ({options.small_events:,}/{options.small_learners:,})"
        keys, small_facts = await prepare_log(
            label=small_label,
            workdir=workdir,
            database_url=small_url,
            nats_url="",
            events=options.small_events,
            learners=options.small_learners,
            tag=tag,
            seed=2,
        )
        report["small_log"] = small_facts
        server = await start_ledger(workdir, small_url, "", relay=False, name="small")
        machine.roots["ledger"] = server.process.pid
        try:
            small = await run_rebuild(
                label=f"(b) rebuild, {options.small_events:,} events / {options.small_learners:,} learners",
                workdir=workdir,
                database_url=small_url,
                server=server,
                token=keys.auditor,
                facts=small_facts,
                options=options,
                machine=machine,
                profile_name=None,
            )
            log(
                f"small rebuild: {small.events_per_s:,.0f} events/s,"
                f" peak RSS {small.peak_rss_mb:,.0f} MB"
            )
        finally:
            server.stop()
        admin = await asyncpg.connect(postgres_url, timeout=10)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {SMALL_DATABASE}")
        finally:
            await admin.close()

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
        log(f"(b) rebuilding (cache {options.cache_learners:,} learners)")
        big = await run_rebuild(
            label=f"(b) rebuild, {options.events:,} events / {options.learners:,} learners",
            workdir=workdir,
            database_url=postgres_url,
            server=server,
            token=keys.auditor,
            facts=facts,
            options=options,
            machine=machine,
            profile_name="rebuild",
        )
        log(f"rebuild: {big.events_per_s:,.0f} events/s, peak RSS {big.peak_rss_mb:,.0f} MB")
        report["rebuilds"] = [big] + ([small] if small is not None else [])
        if big.timed_out:
            log("the rebuild did not finish: the live phase needs a complete read model; skipped")
            report["live"] = None
        else:
            report["live"] = await run_live(
                workdir=workdir,
                database_url=postgres_url,
                nats_url=nats_url,
                ledger=server,
                keys=keys,
                options=options,
                machine=machine,
            )
    finally:
        server.stop()
    return report
