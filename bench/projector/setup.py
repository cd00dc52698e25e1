"""Setting the projector benchmark up: keys, the ledger, the demo catalog and the log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats

from bench.harness.loggen import append_passes, log_head
from bench.harness.servers import (
    HOST,
    LedgerServer,
    http_json,
    server_environment,
    start_server,
    wait_until,
)
from bench.projector.models import PROGRESS_EVERY_S, READY_TIMEOUT_S, LogFacts, log
from credit_ledger.demo_catalog import INSTITUTIONS
from credit_ledger.embedded.processes import free_port
from proto.envelope import Role
from proto.subjects import LEDGER_STREAM
from services.ledger.api_keys import create_key

# --- setting the servers up -------------------------------------------------------------------


@dataclass
class Keys:
    admin: str
    auditor: str
    institutions: dict[str, str]  # institution id -> token
    key_ids: dict[str, str]  # institution id -> key id


async def create_keys(url: str, tag: str) -> Keys:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        admin = await create_key(conn, role=Role.ADMIN, name=f"bench-projector-admin-{tag}")
        auditor = await create_key(conn, role=Role.AUDITOR, name=f"bench-projector-{tag}")
        tokens: dict[str, str] = {}
        key_ids: dict[str, str] = {}
        for institution in INSTITUTIONS:
            issued = await create_key(
                conn,
                role=Role.INSTITUTION,
                name=f"bench-projector-{institution.institution_id.lower()}-{tag}",
                institution_id=institution.institution_id,
            )
            tokens[institution.institution_id] = issued.token
            key_ids[institution.institution_id] = issued.key_id
    finally:
        await conn.close()
    return Keys(admin.token, auditor.token, tokens, key_ids)


async def database_facts(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return {
            name: str(await conn.fetchval(f"SHOW {name}"))
            for name in (
                "server_version",
                "fsync",
                "synchronous_commit",
                "shared_buffers",
                "wal_sync_method",
            )
        }
    finally:
        await conn.close()


async def start_ledger(
    workdir: Path, database_url: str, nats_url: str, *, relay: bool, name: str
) -> LedgerServer:
    port = free_port(HOST)
    env = server_environment(database_url, nats_url, port, workdir / f"ledger-{name}")
    env.update(
        {
            "CREDIT_LEDGER_RELAY_ENABLED": "true" if relay else "false",
            # The transparency-log builder would hash the whole generated log in the
            # background, on the cores the rebuild is measured on.
            "CREDIT_LEDGER_TREE_BUILDER_ENABLED": "false",
        }
    )
    if not relay:
        env["NATS_URL"] = ""
    process = start_server(workdir, env, port, "bench.serve_ledger")
    server = LedgerServer(process, port)

    async def ready() -> bool:
        status, body = await http_json(port, "GET", "/ready")
        return status == 200 and (not relay or bool(body.get("relay_leader")))

    try:
        await wait_until(f"the ledger ({name})", ready, READY_TIMEOUT_S)
    except Exception:
        server.stop()
        raise
    return server


async def relay_published(server: LedgerServer, position: int) -> bool:
    status, body = await http_json(server.port, "GET", "/ready")
    return status == 200 and int(body.get("relay_position") or 0) >= position


async def empty_ledger_stream(nats_url: str, database_url: str) -> int:
    """Purge the LEDGER stream and point the relay's progress at the head.

    The generated events never went through the relay; a relay that finds its stream
    emptied resumes after ``ledger.relay_progress`` (see services/ledger/relay.py) instead
    of publishing a million old events into the live phase.
    """
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await nc.jetstream(timeout=30).purge_stream(LEDGER_STREAM)
    finally:
        await nc.close()
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        head, _, _ = await log_head(conn)
        await conn.execute("UPDATE ledger.relay_progress SET position = $1", head)
    finally:
        await conn.close()
    return head


async def generate_log(
    url: str, label: str, events: int, learners: int, key_ids: dict[str, str], seed: int
) -> LogFacts:
    """``events`` passes after the head, decided by the ledger's group builder, COPYed."""
    conn = await asyncpg.connect(url, timeout=30)
    try:
        log(f"{label}: generating {events:,} AssessmentPassed events for {learners:,} learners")
        clock = time.perf_counter()
        last_report = clock

        def progress(done: int) -> None:
            nonlocal last_report
            now = time.perf_counter()
            if now - last_report >= PROGRESS_EVERY_S or done == events:
                rate = done / (now - clock)
                log(
                    f"{label}: {done:,}/{events:,} events ({done * 100 // events} %),"
                    f" {rate:,.0f} events/s, ~{(events - done) / max(rate, 1):.0f} s left"
                )
                last_report = now

        seconds = await append_passes(
            conn,
            url,
            events=events,
            learners=learners,
            key_ids=key_ids,
            seed=seed,
            progress=progress,
        )
        log(f"{label}: VACUUM ANALYZE ledger.events, CHECKPOINT")
        await conn.execute("VACUUM (ANALYZE) ledger.events")
        await conn.execute("CHECKPOINT")
        size = int(await conn.fetchval("SELECT pg_total_relation_size('ledger.events')"))
        final_head, _, _ = await log_head(conn)
    finally:
        await conn.close()
    return LogFacts(
        label=label,
        database=url.rsplit("/", 1)[-1],
        events=events,
        learners=learners,
        head=final_head,
        seconds=seconds,
        events_per_s=events / seconds if seconds > 0 else 0.0,
        table_bytes=size,
    )
