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
- (b) runs ``services.projector.rebuild.rebuild`` in a process of its own, with the ledger
  in another, and reports events/s and the rebuild process's peak memory (VmHWM); a second
  rebuild of a log with a fifth of the events and learners shows whether memory grows with
  the number of learners beyond the bank cache;
- (c) starts the projector (``create_projector_app`` under uvicorn, its own process), appends
  1,000 events/s through the ledger's HTTP API (open loop) and measures the lag from each
  event's commit in the ledger to its read-model commit: the projector's
  ``projector_lag_seconds`` histogram, and a 5 ms poll of its checkpoint.

It prints a table with the targets (rebuild >= 50,000 events/s, lag p99 < 100 ms, memory
bounded) and can write every figure as JSON. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import os
import random
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import msgspec
import nats
from prometheus_client.parser import text_string_to_metric_families

from bench.httpclient import RawHttpConnection
from bench.ledger_bench import _histogram_quantile, server_environment, start_server
from bench.loadgen import Spec, WorkerResult
from bench.sysinfo import (
    IRQ,
    MACHINE,
    cpu_snapshot,
    fdatasync_probe_us,
    filesystem_of,
    machine_facts,
    percentile,
)
from credit_ledger.demo_catalog import INSTITUTIONS, MICRO_CREDENTIALS, demo_events
from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import free_port, stop_process, wait_for_port
from credit_ledger.infra import apply_migrations, declare_streams
from credit_ledger.logs import configure_logging
from domain.units import level_to_halves
from proto import events as ev
from proto.canonical import canonical_bytes, chain_hash
from proto.envelope import Actor, EventMetadata, Role
from proto.events import SCHEMA_VERSION
from proto.subjects import LEDGER_STREAM
from services.ledger.api_keys import create_key
from services.ledger.reads import _COLUMNS as LOG_COLUMNS
from services.projector.ledger_client import LedgerClient
from services.projector.log_entry import from_recorded
from services.projector.nats_setup import PROJECTOR_CONSUMER
from services.projector.rebuild import rebuild as rebuild_read_model

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# bench.loadgen's EventFactory posts for learners LEARNER_BASE + [0, learners): the live
# phase's appends land on the learners of the generated log.
LEARNER_BASE = 200_000_000_000
EVENT_COLUMNS = [
    "position",
    "event_id",
    "stream",
    "stream_version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "hash",
]
COPY_BATCH = 10_000
PROGRESS_EVERY_S = 5.0
SECTOR_WEIGHTS = {"CAPITAL-GOODS": 4, "TOURISM-HOSPITALITY": 4, "IT-ITES": 2}
SMALL_DATABASE = "bench_projector_small"
PROJECTOR_ROLE = "credit_ledger_projector"
SERVER_STOP_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 90.0
RSS_SAMPLE_S = 0.5
CHECKPOINT_POLL_S = 0.005
OUTBOX_DRAIN_TIMEOUT_S = 180.0
CATCH_UP_TIMEOUT_S = 60.0
LOADGEN_READY_TIMEOUT_S = 60.0
GO_DELAY_S = 0.3
TARGET_REBUILD_EVENTS_PER_S = 50_000.0
TARGET_LAG_P99_S = 0.1
TARGET_MEMORY_RATIO = 1.2
PROFILE_RATE_HZ = 100
PROFILE_TOP = 14
SHARED_MACHINE_CORES = 0.25


@dataclass(frozen=True)
class Options:
    events: int
    learners: int
    small_events: int
    small_learners: int
    cache_learners: int
    lag_seconds: float
    rate: float
    batch: int
    clients: int
    rebuild_timeout_s: float
    client_read: bool
    quick: bool
    json_path: Path | None
    data_dir: Path | None
    profile_dir: Path | None


def log(message: str) -> None:
    print(f"[projector-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- results --------------------------------------------------------------------------------


class LogFacts(msgspec.Struct, kw_only=True):
    label: str
    database: str
    events: int
    learners: int
    head: int
    seconds: float
    events_per_s: float
    table_bytes: int


class ReadResult(msgspec.Struct, kw_only=True):
    key: str
    label: str
    events: int
    bytes: int
    seconds: float
    events_per_s: float
    cpu_cores: dict[str, float]


class ProfileSummary(msgspec.Struct, kw_only=True):
    process: str
    path: str
    samples: int
    # (frame, share of samples): where the CPU went, by the innermost frame and by any
    # frame of the project's own code on the stack.
    self_top: list[tuple[str, float]]
    project_inclusive_top: list[tuple[str, float]]


class RebuildResult(msgspec.Struct, kw_only=True):
    label: str
    events: int
    learners: int
    cache_learners: int
    position: int
    seconds: float
    events_per_s: float
    child_cpu_s: float
    rss_start_mb: float
    peak_rss_mb: float
    # (seconds since start, checkpoint position, RSS MB), every RSS_SAMPLE_S
    rss_samples: list[tuple[float, int, float]]
    cpu_cores: dict[str, float]
    timed_out: bool = False
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)


class LagResult(msgspec.Struct, kw_only=True):
    target_rate: float
    seconds: float
    appended: int
    append_errors: int
    first_error: str | None
    append_p50_ms: float
    append_p99_ms: float
    late_sends: int
    outbox_drained_s: float
    outbox_left: int
    caught_up_s: float
    metric_count: int
    metric_p50_ms: float
    metric_p99_ms: float
    metric_share_within_100ms: float
    poll_count: int
    poll_p50_ms: float
    poll_p99_ms: float
    poll_max_ms: float
    relay_p50_ms: float
    relay_p99_ms: float
    projector_peak_rss_mb: float
    cached_learners: int | None
    # From the projector's own counters over the phase: events applied (from JetStream and
    # from gap fills), batches and their mean duration. projector_lag_seconds observes every
    # message handled, so observations beyond ``applied`` are repeated deliveries.
    applied: int
    gap_filled: int
    batches: int
    mean_batch_ms: float
    redelivered_pending: int
    consumer_ack_wait_s: float
    cpu_cores: dict[str, float]
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)


# --- the log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """One micro-credential as one accredited institution may record a pass of it."""

    code: str
    institution_id: str
    mode: ev.AssessmentMode
    snapshot: ev.CatalogSnapshot


def catalog_offers() -> dict[str, list[list[Offer]]]:
    """By sector: per micro-credential, every institution that may record a pass of it
    (accredited for the sector, up to its level), with the snapshot the ledger records."""
    by_sector: dict[str, list[list[Offer]]] = {}
    for micro in MICRO_CREDENTIALS:
        snapshot = ev.CatalogSnapshot(
            version=micro.version,
            level=str(micro.level),
            notional_hours=micro.notional_hours,
            sector=micro.sector,
            validity_years=micro.validity_years,
        )
        offers = [
            Offer(
                code=micro.code,
                institution_id=institution.institution_id,
                mode=ev.AssessmentMode.RPL
                if institution.kind == ev.InstitutionKind.ASSESSMENT_BODY
                else ev.AssessmentMode.TRAINING,
                snapshot=snapshot,
            )
            for institution in INSTITUTIONS
            if institution.accredited
            and micro.sector in institution.accredited_sectors
            and level_to_halves(micro.level) <= level_to_halves(institution.max_level)
        ]
        if offers:
            by_sector.setdefault(micro.sector, []).append(offers)
    return by_sector


class LogMaker:
    """ledger.events rows of AssessmentPassed events, exactly as the ledger records them.

    Learners are LEARNER_BASE + [0, learners), each studying in one sector (CNC, hospitality
    and culinary, or AI); each event is a pass of one of its sector's micro-credentials at
    an institution accredited for it. Stream versions count per learner, recorded_at never
    runs backwards (runs of events share one, as a group commit does), and every row
    continues the hash chain from the head it starts after.
    """

    def __init__(
        self,
        *,
        learners: int,
        total: int,
        key_ids: dict[str, str],
        head_position: int,
        head_hash: bytes,
        first_at: dt.datetime,
        last_at: dt.datetime,
        seed: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.learners = learners
        self.total = total
        offers = catalog_offers()
        sectors = [s for s in SECTOR_WEIGHTS if s in offers]
        weights = [SECTOR_WEIGHTS[s] for s in sectors]
        self.sector_offers = [offers[s] for s in sectors]
        self.learner_sector = self.rng.choices(range(len(sectors)), weights, k=learners)
        self.versions = [0] * learners
        self.actors = {
            institution: msgspec.to_builtins(
                Actor(role=Role.INSTITUTION, key_id=key_id, institution_id=institution)
            )
            for institution, key_id in key_ids.items()
        }
        today = first_at.astimezone(dt.UTC).date()
        self.days = [today - dt.timedelta(days=d) for d in range(7, 3 * 365)]
        self.position = head_position
        self.hash = head_hash
        self.first_at = first_at
        self.span_us = max(0, int((last_at - first_at) / dt.timedelta(microseconds=1)))
        self.made = 0

    def _metadata(self, institution_id: str) -> dict[str, Any]:
        return {
            "actor": self.actors[institution_id],
            "request_id": uuid.UUID(int=self.rng.getrandbits(128), version=4).hex,
            "correlation_id": None,
            "causation_id": None,
        }

    def check_metadata_shape(self) -> None:
        """The hand-built metadata must be what the ledger's EventMetadata encodes to."""
        institution = next(iter(self.actors))
        built = self._metadata(institution)
        actor = msgspec.convert(self.actors[institution], Actor)
        real = msgspec.to_builtins(EventMetadata(actor=actor, request_id=built["request_id"]))
        if real != built:
            raise RuntimeError(f"metadata shape drifted: {real!r} != {built!r}")

    def batch(self, count: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        rng = self.rng
        for _ in range(count):
            self.made += 1
            position = self.position + 1
            learner = rng.randrange(self.learners)
            offer = rng.choice(rng.choice(self.sector_offers[self.learner_sector[learner]]))
            learner_id = f"{LEARNER_BASE + learner:012d}"
            stream = f"learner-{learner_id}"
            version = self.versions[learner] + 1
            self.versions[learner] = version
            data = msgspec.to_builtins(
                ev.AssessmentPassed(
                    assessment_id=f"ASMT-{position:010d}",
                    learner_id=learner_id,
                    institution_id=offer.institution_id,
                    micro_credential_code=offer.code,
                    mode=offer.mode,
                    assessed_on=rng.choice(self.days),
                    catalog_snapshot=offer.snapshot,
                )
            )
            metadata = self._metadata(offer.institution_id)
            event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            recorded_at = self.first_at + dt.timedelta(
                microseconds=self.span_us * self.made // self.total
            )
            digest = chain_hash(
                self.hash,
                canonical_bytes(
                    position=position,
                    event_id=str(event_id),
                    stream=stream,
                    stream_version=version,
                    type="AssessmentPassed",
                    schema_version=SCHEMA_VERSION,
                    data=data,
                    metadata=metadata,
                    recorded_at=recorded_at,
                ),
            )
            self.position, self.hash = position, digest
            rows.append(
                (
                    position,
                    event_id,
                    stream,
                    version,
                    "AssessmentPassed",
                    SCHEMA_VERSION,
                    msgspec.json.encode(data).decode(),
                    msgspec.json.encode(metadata).decode(),
                    recorded_at,
                    digest,
                )
            )
        return rows


async def log_head(conn: asyncpg.Connection) -> tuple[int, bytes, dt.datetime]:
    row = await conn.fetchrow(
        "SELECT position, hash, recorded_at FROM ledger.events ORDER BY position DESC LIMIT 1"
    )
    if row is None:
        raise RuntimeError("the log is empty: the catalog should have been appended first")
    return int(row["position"]), bytes(row["hash"]), row["recorded_at"]


async def generate_log(
    url: str, label: str, events: int, learners: int, key_ids: dict[str, str], seed: int
) -> LogFacts:
    """COPY ``events`` passes after the head; the next batch is built while one is copied."""
    conn = await asyncpg.connect(url, timeout=30)
    try:
        head, head_hash, head_at = await log_head(conn)
        # recorded_at runs from the catalog's to now: live appends (clock now) come after.
        maker = LogMaker(
            learners=learners,
            total=events,
            key_ids=key_ids,
            head_position=head,
            head_hash=head_hash,
            first_at=head_at,
            last_at=max(head_at, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)),
            seed=seed,
        )
        maker.check_metadata_shape()
        log(f"{label}: generating {events:,} AssessmentPassed events for {learners:,} learners")
        started = time.perf_counter()
        last_report = started
        done = 0
        pending = asyncio.ensure_future(asyncio.to_thread(maker.batch, min(COPY_BATCH, events)))
        while done < events:
            rows = await pending
            done += len(rows)
            if done < events:
                pending = asyncio.ensure_future(
                    asyncio.to_thread(maker.batch, min(COPY_BATCH, events - done))
                )
            await conn.copy_records_to_table(
                "events", schema_name="ledger", columns=EVENT_COLUMNS, records=rows
            )
            now = time.perf_counter()
            if now - last_report >= PROGRESS_EVERY_S or done == events:
                rate = done / (now - started)
                log(
                    f"{label}: {done:,}/{events:,} events ({done * 100 // events} %),"
                    f" {rate:,.0f} events/s, ~{(events - done) / max(rate, 1):.0f} s left"
                )
                last_report = now
        seconds = time.perf_counter() - started
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


async def http_json(port: int, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    client = RawHttpConnection(HOST, port, token, timeout_s=30.0)
    try:
        status, body = await client.request(method, path)
    finally:
        await client.close()
    return status, msgspec.json.decode(body) if body else None


async def wait_until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    timeout_s: float,
    interval_s: float = 0.2,
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took (raises on timeout)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            if await check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)


@dataclass
class LedgerServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)


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


async def load_catalog(server: LedgerServer, admin_token: str) -> None:
    body = msgspec.json.encode(
        {
            "events": [
                {"event_id": event_id, "event": msgspec.to_builtins(event)}
                for event_id, event in demo_events()
            ]
        }
    )
    client = RawHttpConnection(HOST, server.port, admin_token)
    try:
        status, payload = await client.request("POST", "/v1/events/batch", body)
    finally:
        await client.close()
    if status != 201:
        raise RuntimeError(f"the demo catalog was not appended: {status} {payload[:500]!r}")


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


# --- CPU accounting ---------------------------------------------------------------------------


def _pid_from(pid_file: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(pid_file.read_text().split()[0])
    return None


@dataclass
class Machine:
    roots: dict[str, int] = field(default_factory=dict)

    def snapshot(self, extra: dict[str, int] | None = None) -> dict[str, float]:
        return cpu_snapshot({**self.roots, **(extra or {})}, {"coordinator": os.getpid()})


def cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU cores per process tree over a window; ``other`` is everything else on the box."""
    seconds = max(seconds, 1e-6)
    result = {
        name: (after[name] - before[name]) / seconds
        for name in before
        if name in after and name not in (MACHINE, IRQ)
    }
    machine = (after.get(MACHINE, 0.0) - before.get(MACHINE, 0.0)) / seconds
    result["other"] = max(0.0, machine - sum(result.values()))
    result["irq"] = (after.get(IRQ, 0.0) - before.get(IRQ, 0.0)) / seconds
    return result


# --- (a) reading the log ----------------------------------------------------------------------


async def scan_database(url: str, machine: Machine) -> ReadResult:
    """The ledger's own stream_log query, through an asyncpg cursor, rows only."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        before = machine.snapshot()
        started = time.perf_counter()
        events = 0
        async with conn.transaction(readonly=True):
            cursor = conn.cursor(
                f"SELECT {LOG_COLUMNS} FROM ledger.events ORDER BY position", prefetch=2000
            )
            async for _row in cursor:
                events += 1
        seconds = time.perf_counter() - started
        after = machine.snapshot()
    finally:
        await conn.close()
    return ReadResult(
        key="a_db_scan",
        label="(a) DB scan: asyncpg cursor, ORDER BY position",
        events=events,
        bytes=0,
        seconds=seconds,
        events_per_s=events / seconds,
        cpu_cores=cores(before, after, seconds),
    )


async def _ndjson_body(port: int, token: str) -> AsyncIterator[bytes]:
    """The body of GET /v1/log/ndjson, chunk by chunk (chunked or read to the end)."""
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
    try:
        writer.write(
            (
                f"GET /v1/log/ndjson?after_position=0 HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: application/x-ndjson\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if head[9:12] != b"200":
            raise RuntimeError(f"GET /v1/log/ndjson answered {head[:200]!r}")
        if b"\r\ntransfer-encoding: chunked" in head.lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                yield await reader.readexactly(size)
                await reader.readexactly(2)
        while piece := await reader.read(1 << 20):
            yield piece
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_ndjson(server: LedgerServer, token: str, machine: Machine) -> ReadResult:
    before = machine.snapshot()
    started = time.perf_counter()
    events = total = 0
    async for chunk in _ndjson_body(server.port, token):
        events += chunk.count(b"\n")
        total += len(chunk)
    seconds = time.perf_counter() - started
    after = machine.snapshot()
    return ReadResult(
        key="a_http_ndjson",
        label="(a) HTTP GET /v1/log/ndjson (lean client)",
        events=events,
        bytes=total,
        seconds=seconds,
        events_per_s=events / seconds,
        cpu_cores=cores(before, after, seconds),
    )


async def read_with_ledger_client(server: LedgerServer, token: str, machine: Machine) -> ReadResult:
    """What the rebuild reads, and how: LedgerClient.stream (httpx) + from_recorded."""
    client = LedgerClient(server.url, token)
    before = machine.snapshot()
    started = time.perf_counter()
    events = 0
    try:
        async for recorded in client.stream(0):
            from_recorded(recorded)
            events += 1
    finally:
        await client.close()
    seconds = time.perf_counter() - started
    after = machine.snapshot()
    return ReadResult(
        key="a_ledger_client",
        label="(a') projector LedgerClient: read+decode",
        events=events,
        bytes=0,
        seconds=seconds,
        events_per_s=events / seconds,
        cpu_cores=cores(before, after, seconds),
    )


# --- (b) the rebuild ---------------------------------------------------------------------------


class RebuildSpec(msgspec.Struct, kw_only=True):
    database_url: str
    ledger_url: str
    api_key: str
    cache_learners: int


class RebuildChildReport(msgspec.Struct, kw_only=True):
    position: int
    seconds: float
    cpu_s: float
    rss_start_kb: int
    hwm_kb: int
    maxrss_kb: int


def _status_kb(pid: int | str, field_name: str) -> int:
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
    rss_start = _status_kb("self", "VmRSS")
    cpu_started = time.process_time()
    started = time.perf_counter()
    position = asyncio.run(
        rebuild_read_model(
            spec.database_url,
            spec.ledger_url,
            spec.api_key,
            spec.cache_learners,
            PROJECTOR_ROLE,
            progress=False,
        )
    )
    report = RebuildChildReport(
        position=position,
        seconds=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu_started,
        rss_start_kb=rss_start,
        hwm_kb=_status_kb("self", "VmHWM"),
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )
    result_path.write_bytes(msgspec.json.encode(report))
    return 0


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_py_spy(pid: int, output: Path) -> asyncio.subprocess.Process | None:
    py_spy = _py_spy()
    if py_spy is None:
        log("--profile needs py-spy in the venv (pip install py-spy); not profiling")
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(PROFILE_RATE_HZ),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def stop_py_spy(process: asyncio.subprocess.Process) -> None:
    """py-spy writes its output on SIGINT (or by itself when the target exits)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


_LINE_NUMBER = re.compile(r":\d+\)$")


def summarize_profile(process: str, path: Path) -> ProfileSummary | None:
    """Shares of samples by innermost frame, and by project frame anywhere on the stack."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    root = str(REPO_ROOT)
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE_NUMBER.sub(")", f.replace(root + "/", "")) for f in stack.split(";")]
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            if "(services/" in frame or "(domain/" in frame:
                inclusive[frame] += count
    if total == 0:
        return None
    return ProfileSummary(
        process=process,
        path=str(path),
        samples=total,
        self_top=[(f, c / total) for f, c in self_counts.most_common(PROFILE_TOP)],
        project_inclusive_top=[(f, c / total) for f, c in inclusive.most_common(PROFILE_TOP)],
    )


async def read_checkpoint(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT position FROM projector.checkpoint"))


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
                cache_learners=options.cache_learners,
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
                spy = await start_py_spy(pid, output)
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
            rss_mb = _status_kb(child.pid, "VmRSS") / 1024
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
            await stop_py_spy(spy)
            summary = summarize_profile(name, output)
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
                await stop_py_spy(spy)
    return RebuildResult(
        label=label,
        events=facts.events,
        learners=facts.learners,
        cache_learners=options.cache_learners,
        position=report.position,
        seconds=report.seconds,
        events_per_s=report.position / report.seconds,
        child_cpu_s=report.cpu_s,
        rss_start_mb=report.rss_start_kb / 1024,
        peak_rss_mb=report.hwm_kb / 1024,
        rss_samples=samples,
        cpu_cores=cores(before, after, seconds),
        profiles=profiles,
    )


# --- (c) live lag --------------------------------------------------------------------------------


def serve_projector() -> int:
    """Runs in its own process: the projector app as ``credit-ledger projector serve``."""
    import uvicorn

    from credit_ledger.settings import load_settings
    from services.projector.app import create_projector_app

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_projector_app(settings),
        host=settings.http_host,
        port=settings.projector_port,
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
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CREDIT_LEDGER_HTTP_HOST": HOST,
            "CREDIT_LEDGER_PROJECTOR_PORT": str(port),
            "CREDIT_LEDGER_LEDGER_URL": ledger.url,
            "CREDIT_LEDGER_PROJECTOR_API_KEY": token,
            "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS": str(cache_learners),
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    with (workdir / "projector-server.log").open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.projector_bench", "_projector"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_port(HOST, port, process, READY_TIMEOUT_S)
    except Exception as exc:
        stop_process(process, signal.SIGTERM, SERVER_STOP_TIMEOUT_S)
        tail = (workdir / "projector-server.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"the projector did not start:\n{tail}") from exc
    return process, port


async def scrape(port: int) -> dict[str, float]:
    """Every sample of a /metrics page, histogram buckets as ``name{le}``."""
    client = RawHttpConnection(HOST, port, None)
    try:
        status, body = await client.request("GET", "/metrics")
    finally:
        await client.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics on port {port} answered {status}")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = sample.name
            if "le" in sample.labels:
                key += "{" + sample.labels["le"] + "}"
            samples[key] = sample.value
    return samples


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def bucket_delta(
    before: dict[str, float], after: dict[str, float], name: str
) -> dict[float, float]:
    prefix = f"{name}_bucket{{"
    return {
        float(key[len(prefix) : -1]): value - before.get(key, 0.0)
        for key, value in after.items()
        if key.startswith(prefix)
    }


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
) -> tuple[WorkerResult, int]:
    """bench.loadgen's open loop: ``rate`` events/s, ``batch`` per POST /v1/events/batch."""
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
    spec_path, result_path = folder / "spec.json", folder / "result.json"
    spec_path.write_bytes(msgspec.json.encode(spec))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    with (folder / "stderr.txt").open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            str(spec_path),
            str(result_path),
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        line = await asyncio.wait_for(process.stdout.readline(), LOADGEN_READY_TIMEOUT_S)
        if line.strip() != b"READY":
            await asyncio.sleep(0.2)
            error = (folder / "stderr.txt").read_text(errors="replace")
            raise RuntimeError(f"the load generator failed to start:\n{error[-3000:]}")
        process.stdin.write(f"GO {time.time() + GO_DELAY_S!r}\n".encode())
        await process.stdin.drain()
        await asyncio.wait_for(process.wait(), options.lag_seconds + 120)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0 or not result_path.exists():
        error = (folder / "stderr.txt").read_text(errors="replace")
        raise RuntimeError(f"the load generator failed:\n{error[-3000:]}")
    return msgspec.json.decode(result_path.read_bytes(), type=WorkerResult), process.pid


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
                spy = await start_py_spy(process.pid, spy_output)
            cpu_before = machine.snapshot({"projector": process.pid})
            load_started = time.perf_counter()
            try:
                result, _loadgen_pid = await paced_load(
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
                    await stop_py_spy(spy)
            profiles = []
            if spy is not None and (summary := summarize_profile("projector", spy_output)):
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
        peak_mb = _status_kb(process.pid, "VmHWM") / 1024
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
    """(messages now pending redelivery, effective ack wait in s) of the projector's consumer."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream(timeout=10).consumer_info(LEDGER_STREAM, PROJECTOR_CONSUMER)
    finally:
        await nc.close()
    return int(info.num_redelivered or 0), float(info.config.ack_wait or 0.0)


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def _at_least(value: Awaitable[int], floor: int) -> bool:
    return await value >= floor


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
        await load_catalog(server, keys.admin)
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


# --- report ----------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _cpu_columns(cpu: dict[str, float]) -> str:
    return "".join(
        f"{cpu.get(name, 0.0):>7.2f}"
        for name in ("ledger", "rebuild", "projector", "postgres", "nats", "coordinator", "other")
    )


def checks(report: dict[str, Any]) -> dict[str, Any]:
    reads = {r.key: r for r in report["reads"]}
    rebuilds: list[RebuildResult] = report["rebuilds"]
    big = rebuilds[0]
    small = rebuilds[1] if len(rebuilds) > 1 else None
    live: LagResult | None = report.get("live")
    ndjson = reads["a_http_ndjson"].events_per_s
    return {
        "rebuild_events_per_s": big.events_per_s,
        "rebuild_ok": big.events_per_s >= TARGET_REBUILD_EVENTS_PER_S and not big.timed_out,
        "b_over_a_ndjson": _ratio(big.events_per_s, ndjson),
        "b_over_a_db_scan": _ratio(big.events_per_s, reads["a_db_scan"].events_per_s),
        "lag_p99_ms": live.metric_p99_ms if live else None,
        "poll_p99_ms": live.poll_p99_ms if live else None,
        "poll_ok": bool(live and live.poll_count and live.poll_p99_ms < TARGET_LAG_P99_S * 1000),
        # 0.1 s is a bucket bound of projector_lag_seconds: "99 % within 100 ms" is exact.
        "lag_ok": bool(live and live.metric_count and live.metric_share_within_100ms >= 0.99),
        # Meaningful only when both logs have more learners than the cache holds.
        "memory_ratio": _ratio(big.peak_rss_mb, small.peak_rss_mb)
        if small and small.learners > small.cache_learners
        else None,
        "memory_ok": bool(
            small
            and small.learners > small.cache_learners
            and big.peak_rss_mb <= small.peak_rss_mb * TARGET_MEMORY_RATIO
        ),
    }


def render(report: dict[str, Any]) -> str:
    facts = report["machine"]
    db = report["database"]
    log_facts: LogFacts = report["log"]
    options = report["options"]
    ratios = report["checks"]
    lines = [
        "Projector benchmark: raw log read, full rebuild, live lag",
        f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), Python {facts['python']},"
        f" PostgreSQL {db['server_version']} (fsync={db['fsync']},"
        f" synchronous_commit={db['synchronous_commit']}, shared_buffers={db['shared_buffers']}),"
        f" data on {report['data_filesystem']} (8 kB write + fdatasync: {report['fdatasync_us']:.0f} us)",
        f"log: {log_facts.head:,} events ({log_facts.events:,} AssessmentPassed for"
        f" {log_facts.learners:,} learners after the demo catalog), ledger.events"
        f" {log_facts.table_bytes / 2**20:,.0f} MB, generated in {log_facts.seconds:.0f} s"
        f" ({log_facts.events_per_s:,.0f} events/s, COPY)",
        f"projector bank cache: {options['cache_learners']:,} learners",
        "",
        f"{'phase':<52}{'events':>11}{'seconds':>9}{'events/s':>10}   CPU cores:"
        f"{'ledger':>7}{'rebuild':>7}{'proj':>7}{'pg':>7}{'nats':>7}{'coord':>7}{'other':>7}",
    ]
    for read in report["reads"]:
        lines.append(
            f"{read.label:<52}{read.events:>11,}{read.seconds:>9.1f}{read.events_per_s:>10,.0f}"
            f"             {_cpu_columns(read.cpu_cores)}"
        )
    for rebuild in report["rebuilds"]:
        label = rebuild.label + (" (PARTIAL)" if rebuild.timed_out else "")
        lines.append(
            f"{label:<52}{rebuild.position:>11,}{rebuild.seconds:>9.1f}"
            f"{rebuild.events_per_s:>10,.0f}             {_cpu_columns(rebuild.cpu_cores)}"
        )
    live: LagResult | None = report.get("live")
    if live is not None:
        label = f"(c) live appends @ {live.target_rate:,.0f} events/s (open loop)"
        lines.append(
            f"{label:<52}{live.appended:>11,}{live.seconds:>9.1f}"
            f"{_ratio(live.appended, live.seconds):>10,.0f}             {_cpu_columns(live.cpu_cores)}"
            f"  loadgen {live.cpu_cores.get('loadgen', 0.0):.2f}"
        )
    lines += ["", "memory of the projector (peak RSS, VmHWM):"]
    for rebuild in report["rebuilds"][1:]:
        if rebuild.learners <= rebuild.cache_learners:
            lines.append(
                "  (the smaller log's learners fit in the cache: it cannot show whether memory"
                " grows beyond it; the check below is n/a)"
            )
    for rebuild in report["rebuilds"]:
        lines.append(
            f"  {rebuild.label}: {rebuild.peak_rss_mb:,.0f} MB"
            f" (after imports {rebuild.rss_start_mb:,.0f} MB; {rebuild.child_cpu_s:.0f} s CPU"
            f" = {_ratio(rebuild.child_cpu_s, rebuild.seconds):.2f} of a core)"
        )
    if live is not None:
        lines.append(
            f"  live projector after (c): {live.projector_peak_rss_mb:,.0f} MB"
            f" ({live.cached_learners} learners cached)"
        )
        lines += [
            "",
            "live lag, ledger commit -> read-model commit:",
            f"  projector_lag_seconds ({live.metric_count:,} observations): p50 {live.metric_p50_ms:.1f} ms,"
            f" p99 {live.metric_p99_ms:.1f} ms, {live.metric_share_within_100ms * 100:.2f} % within 100 ms",
            f"  checkpoint polled every {CHECKPOINT_POLL_S * 1000:.0f} ms ({live.poll_count:,} events):"
            f" p50 {live.poll_p50_ms:.1f} ms, p99 {live.poll_p99_ms:.1f} ms, max {live.poll_max_ms:.1f} ms",
            f"  of which the relay (commit -> JetStream ack): p50 {live.relay_p50_ms:.1f} ms,"
            f" p99 {live.relay_p99_ms:.1f} ms",
            f"  appends (batches of {options['batch']}): p50 {live.append_p50_ms:.1f} ms,"
            f" p99 {live.append_p99_ms:.1f} ms, errors {live.append_errors}, late sends"
            f" {live.late_sends}; caught up {live.caught_up_s:.2f} s after the last append;"
            f" outbox drained in {live.outbox_drained_s:.1f} s before the phase"
            + (f" ({live.outbox_left} left)" if live.outbox_left else ""),
        ]
        lines.append(
            f"  projector: {live.applied:,} events applied ({live.gap_filled:,} gap-filled from the"
            f" ledger) in {live.batches:,} batches of {live.mean_batch_ms:.0f} ms on average;"
            f" {max(0, live.metric_count - live.applied):,} lag observations were repeat"
            f" deliveries (consumer ack wait {live.consumer_ack_wait_s:g} s)"
        )
        if live.first_error:
            lines.append(f"  first append error: {live.first_error}")
    memory = ratios["memory_ratio"]
    lag_p99 = ratios["lag_p99_ms"]
    poll_p99 = ratios["poll_p99_ms"]
    lines += [
        "",
        f"{'check':<52}{'value':>12}{'target':>14}   verdict",
        f"{'rebuild events/s':<52}{ratios['rebuild_events_per_s']:>12,.0f}"
        f"{'>= 50,000':>14}   {_verdict(ratios['rebuild_ok'])}",
        f"{'(b)/(a) rebuild vs HTTP NDJSON read':<52}{ratios['b_over_a_ndjson']:>12.2f}"
        f"{'-':>14}   info",
        f"{'(b)/(a) rebuild vs DB scan':<52}{ratios['b_over_a_db_scan']:>12.2f}{'-':>14}   info",
        f"{'live lag p99, projector_lag_seconds (ms)':<52}"
        + (f"{lag_p99:>12.1f}" if lag_p99 is not None else f"{'n/a':>12}")
        + f"{'< 100':>14}   "
        + (_verdict(ratios["lag_ok"]) if lag_p99 is not None else "n/a"),
        f"{'live lag p99, checkpoint poll (ms)':<52}"
        + (f"{poll_p99:>12.1f}" if poll_p99 is not None else f"{'n/a':>12}")
        + f"{'< 100':>14}   "
        + (_verdict(ratios["poll_ok"]) if poll_p99 is not None else "n/a"),
        f"{'peak RSS, big log / small log':<52}"
        + (f"{memory:>12.2f}" if memory is not None else f"{'n/a':>12}")
        + f"{'<= ' + format(TARGET_MEMORY_RATIO, '.2f'):>14}   "
        + (_verdict(ratios["memory_ok"]) if memory is not None else "n/a"),
    ]
    phases = [*report["reads"], *report["rebuilds"], *([live] if live is not None else [])]
    busy = max((phase.cpu_cores.get("other", 0.0) for phase in phases), default=0.0)
    if busy >= SHARED_MACHINE_CORES:
        lines += [
            "",
            f"note: up to {busy:.2f} cores went to other processes during a phase ('other'):"
            " the machine was shared, and rates are lower than on an idle one.",
        ]
    profiled = [(r.label, r.profiles) for r in report["rebuilds"]]
    if live is not None:
        profiled.append(("(c) live appends", live.profiles))
    for phase_label, profiles in profiled:
        for profile in profiles:
            lines += [
                "",
                f"py-spy, {profile.process} process during {phase_label}"
                f" ({profile.samples:,} samples at {PROFILE_RATE_HZ} Hz = CPU; {profile.path}):",
                "  innermost frames:",
                *(f"    {share * 100:5.1f} %  {frame}" for frame, share in profile.self_top),
                "  project frames anywhere on the stack:",
                *(
                    f"    {share * 100:5.1f} %  {frame}"
                    for frame, share in profile.project_inclusive_top
                ),
            ]
    return "\n".join(lines)


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
    parser.add_argument("--rate", type=float, default=1000.0, help="live events/s (default 1000)")
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
        batch=10,
        clients=32,
        rebuild_timeout_s=args.rebuild_timeout,
        client_read=not args.no_client_read,
        quick=args.quick,
        json_path=args.json_path,
        data_dir=args.data_dir,
        profile_dir=args.profile_dir,
    )


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
                "clients": options.clients,
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
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
