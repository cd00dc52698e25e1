"""Setting the write-path benchmark up: the database, the ledger's readiness and metrics, keys, catalog, warm-up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from bench.harness.bodies import RAW_TABLE, EventFactory
from bench.harness.httpclient import RawHttpConnection
from bench.harness.metrics import metrics_text
from bench.harness.servers import (
    SERVER_START_TIMEOUT_S,
)
from bench.harness.servers import load_catalog as post_catalog
from bench.ledger.models import GROUP_HISTOGRAMS, Bench, Scrape, log
from credit_ledger.infra import apply_migrations
from proto.envelope import Role
from services.ledger.api_keys import create_key

# --- PostgreSQL-side preparation ---------------------------------------------------------


async def prepare_database(database_url: str) -> None:
    await apply_migrations(database_url)
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        # The same columns, constraints and indexes as the log; no triggers (LIKE copies none).
        await conn.execute(f"DROP TABLE IF EXISTS public.{RAW_TABLE}")
        await conn.execute(f"CREATE TABLE public.{RAW_TABLE} (LIKE ledger.events INCLUDING ALL)")
    finally:
        await conn.close()


async def drop_raw_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS public.{RAW_TABLE}")
    finally:
        await conn.close()


async def database_facts(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        facts = {}
        for name in (
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "commit_delay",
            "shared_buffers",
        ):
            facts[name] = str(await conn.fetchval(f"SHOW {name}"))
        return facts
    finally:
        await conn.close()


async def checkpoint(database_url: str) -> None:
    """Start every phase from a fresh checkpoint, so no phase pays for another's writes."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        with contextlib.suppress(asyncpg.PostgresError):  # needs superuser-ish rights
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def get_json(bench: Bench, path: str) -> tuple[int, Any]:
    client = bench.http()
    try:
        status, body = await client.request("GET", path)
    finally:
        await client.close()
    return status, msgspec.json.decode(body) if body else None


async def wait_ready(bench: Bench) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    body: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            status, body = await get_json(bench, "/ready")
            if status == 200 and body.get("relay_leader"):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the ledger did not become ready (last /ready: {body!r})")


async def scrape(bench: Bench) -> Scrape:
    text = await metrics_text(bench.http_port)
    result = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ledger_head_position":
                result.head = sample.value
            elif sample.name == "ledger_relay_position":
                result.relay = sample.value
            elif sample.name == "ledger_audit_tree_size":
                result.tree = sample.value
            elif sample.name == "ledger_relay_lag_seconds_bucket":
                result.lag_buckets[float(sample.labels["le"])] = sample.value
            elif sample.name.startswith(GROUP_HISTOGRAMS) and sample.name.endswith(
                ("_sum", "_count")
            ):
                result.totals[sample.name] = sample.value
    return result


async def relay_catch_up(bench: Bench, timeout_s: float) -> tuple[int, float]:
    """Wait (bounded) until the relay has published the head; (backlog at start, seconds)."""
    started = time.monotonic()
    first = await scrape(bench)
    backlog = int(max(0.0, first.head - first.relay))
    current = first
    while current.relay < current.head:
        if time.monotonic() - started > timeout_s:
            log(
                f"relay still {int(current.head - current.relay)} events behind after"
                f" {timeout_s:.0f} s; going on"
            )
            break
        await asyncio.sleep(0.25)
        current = await scrape(bench)
    return backlog, time.monotonic() - started


async def tree_catch_up(bench: Bench, timeout_s: float) -> None:
    """Wait (bounded) until the tree builder has every leaf up to the head: a builder still
    catching up on an earlier phase's events would take PostgreSQL's CPU from the next."""
    started = time.monotonic()
    current = await scrape(bench)
    while current.tree < current.head:
        if time.monotonic() - started > timeout_s:
            log(f"tree builder still {int(current.head - current.tree)} leaves behind; going on")
            return
        await asyncio.sleep(0.25)
        current = await scrape(bench)


# --- setting the ledger up --------------------------------------------------------------


async def create_keys(bench: Bench) -> None:
    conn = await asyncpg.connect(bench.database_url, timeout=10)
    try:
        admin = await create_key(conn, role=Role.ADMIN, name=f"bench-admin-{bench.tag}")
        institution = await create_key(
            conn,
            role=Role.INSTITUTION,
            name=f"bench-nsti-{bench.tag}",
            institution_id="NSTI-CHENNAI",
        )
    finally:
        await conn.close()
    bench.admin_token = admin.token
    bench.institution_token = institution.token


async def load_catalog(bench: Bench) -> None:
    await post_catalog(bench.http_port, bench.admin_token)


async def warm_up(bench: Bench) -> None:
    """Exercise both append paths once, and keep real rows as the raw phases' data."""
    factory = EventFactory(f"{bench.tag}w", 0, bench.assessed_on(), 100_000)
    clients = [bench.http(bench.institution_token) for _ in range(16)]

    async def singles(client: RawHttpConnection) -> None:
        for _ in range(25):
            status, payload = await client.request("POST", "/v1/events", factory.single())
            if status != 201:
                raise RuntimeError(f"warm-up append refused: {status} {payload[:500]!r}")

    try:
        await asyncio.gather(*(singles(c) for c in clients))
        for _ in range(3):
            status, payload = await clients[0].request(
                "POST", "/v1/events/batch", factory.batch(bench.options.batch_size)
            )
            if status != 201:
                raise RuntimeError(f"warm-up batch refused: {status} {payload[:500]!r}")
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    conn = await asyncpg.connect(bench.database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT data::text AS data, metadata::text AS metadata FROM ledger.events"
            " WHERE type = 'AssessmentPassed' ORDER BY position DESC LIMIT 256"
        )
    finally:
        await conn.close()
    bench.samples = [(row["data"], row["metadata"]) for row in rows]
    if not bench.samples:
        raise RuntimeError("the warm-up left no AssessmentPassed rows to sample")
