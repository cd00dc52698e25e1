"""The audit benchmark: chain verification, Merkle proofs and tree-head signing at scale.

    .venv/bin/python -m bench.audit_bench [--events N] [--repeat N] [--json PATH]

In a fresh embedded PostgreSQL (temporary directory, removed afterwards), COPY loads N
events (default 1,000,000) with realistic JSON (passes with their catalog snapshot,
certificates, revocations, redemptions; 100,000 learners; group-commit timestamps) and a
valid hash chain, then measures:

- chain verification from the database (``audit verify``'s own code path) in events/s,
  against two baselines over the same events: (a) a bare hashlib loop,
  ``h = sha256(h + canonical)``, over the canonical bytes already in memory (the target
  names this one: >= 0.5), and (b) the same COPY query with a bare hashlib loop over each
  row's bytes as PostgreSQL sends them (the floor of any verifier reading this database);
- chain verification from an NDJSON export of the log, against a bare hashlib loop over
  the lines of the same file;
- the TreeBuilder's build rate (the real ``build_step``), then inclusion and consistency
  proof latency p50/p99 at tree size N, from the service function (one query) and
  through the HTTP API (``create_app`` in-process, auditor key);
- tree-head signing: the Ed25519 signature alone, and a whole signed head (state, root
  nodes, insert) as ``POST /v1/audit/tree-heads`` does it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.harness.sysinfo import machine_facts, percentile
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.infra import apply_migrations
from proto.canonical import GENESIS_HASH, canonical_bytes
from proto.envelope import Role
from services.common import db
from services.common.logs import configure_logging
from services.common.settings import load_settings
from services.ledger.api_keys import create_key
from services.ledger.audit import proofs
from services.ledger.audit.head_store import register_key, sign_current_tree
from services.ledger.audit.signing import create_key_file, signer_from_key
from services.ledger.audit.stored_rows import AUDIT_COLUMNS
from services.ledger.audit.tree_build import build_step
from services.ledger.audit.tree_head import sign_tree_head
from services.ledger.audit.verify import verify_database, verify_export

COPY_BATCH = 20_000
BUILD_BATCH = 20_000
LEARNERS = 100_000
PROOF_SAMPLES = 2000
HTTP_PROOF_SAMPLES = 500
SIGN_SAMPLES = 200
TARGET_EVENTS_PER_S = 100_000
TARGET_RAW_RATIO = 0.5
TARGET_PROOF_P99_MS = 5.0
INSTITUTIONS = [
    ("NSTI-CHENNAI", "CAPITAL-GOODS"),
    ("IHM-GOA", "TOURISM-HOSPITALITY"),
    ("NIELIT-DELHI", "IT-ITES"),
]
CODES = {
    "CAPITAL-GOODS": [("CNC-FUND", "4", 60), ("CNC-PROG", "4", 90), ("CNC-ADV", "4.5", 90)],
    "TOURISM-HOSPITALITY": [("HOSP-FUND", "3", 60), ("HOSP-FNB", "4", 60), ("CUL-BASIC", "3", 90)],
    "IT-ITES": [("AI-INTRO", "5", 60), ("AI-PYML", "5", 90), ("AI-DL", "6", 120)],
}
COLUMNS = [
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


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the log ------------------------------------------------------------------------------


class EventMaker:
    """Realistic events: what a year of institutions posting through the ledger looks like."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.versions: dict[str, int] = {}
        self.passes: dict[str, list[tuple[str, str, str]]] = {}
        self.moment = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
        self.group_left = 0

    def _recorded_at(self) -> dt.datetime:
        # Group commit: runs of events share one recorded_at, which never runs backwards.
        if self.group_left == 0:
            self.moment += dt.timedelta(microseconds=self.rng.randrange(1, 40_000))
            self.group_left = self.rng.choice([1, 1, 1, 2, 5, 20, 200])
        self.group_left -= 1
        return self.moment

    def _metadata(self, institution: str, role: str = "institution") -> dict[str, Any]:
        return {
            "actor": {
                "role": role,
                "key_id": hashlib.sha256(institution.encode()).hexdigest()[:16],
                "institution_id": institution,
            },
            "request_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "correlation_id": None,
            "causation_id": None,
        }

    def next(self) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
        """(stream, type, data, metadata) of the next event."""
        learner = f"{self.rng.randrange(LEARNERS) + 100_000_000_000:012d}"
        held = self.passes.get(learner, [])
        roll = self.rng.random()
        if held and roll < 0.25:
            institution, assessment_id, code = self.rng.choice(held)
            data: dict[str, Any] = {
                "type": "CredentialIssued",
                "credential_id": f"CERT-{self.rng.getrandbits(48):012x}",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "micro_credential_code": code,
                "issued_on": "2026-03-02",
            }
        elif held and roll < 0.30:
            institution, assessment_id, _ = held.pop(self.rng.randrange(len(held)))
            data = {
                "type": "AssessmentRevoked",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "reason": 'malpractice found on review of the "practical" component — re-assessment due',
            }
        elif held and roll < 0.33:
            institution, assessment_id, _ = held.pop(self.rng.randrange(len(held)))
            data = {
                "type": "CreditsRedeemed",
                "redemption_id": f"RDM-{self.rng.getrandbits(32):08x}",
                "learner_id": learner,
                "institution_id": "ATI-MUMBAI",
                "passes": [{"institution_id": institution, "assessment_id": assessment_id}],
                "programme": "B.Voc. Manufacturing Technology (NSQF 5)",
            }
        else:
            institution, sector = self.rng.choice(INSTITUTIONS)
            code, level, hours = self.rng.choice(CODES[sector])
            assessment_id = f"ASMT-{self.rng.getrandbits(48):012x}"
            data = {
                "type": "AssessmentPassed",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "micro_credential_code": code,
                "mode": self.rng.choice(["training", "training", "rpl"]),
                "assessed_on": f"2025-{self.rng.randrange(1, 13):02d}-{self.rng.randrange(1, 29):02d}",
                "catalog_snapshot": {
                    "version": 1,
                    "level": level,
                    "notional_hours": hours,
                    "sector": sector,
                    "validity_years": 7,
                },
            }
            self.passes.setdefault(learner, []).append((institution, assessment_id, code))
        return f"learner-{learner}", data["type"], data, self._metadata(data["institution_id"])

    def rows(self, count: int, canonicals: list[bytes]) -> Iterator[list[tuple[Any, ...]]]:
        """COPY batches of ledger.events rows with a valid chain; keeps each canonical form."""
        previous = GENESIS_HASH
        batch: list[tuple[Any, ...]] = []
        for position in range(1, count + 1):
            stream, type_name, data, metadata = self.next()
            version = self.versions.get(stream, 0) + 1
            self.versions[stream] = version
            event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            recorded_at = self._recorded_at()
            canonical = canonical_bytes(
                position=position,
                event_id=event_id,
                stream=stream,
                stream_version=version,
                type=type_name,
                schema_version=1,
                data=data,
                metadata=metadata,
                recorded_at=recorded_at,
            )
            canonicals.append(canonical)
            previous = hashlib.sha256(previous + canonical).digest()
            batch.append(
                (
                    position,
                    uuid.UUID(event_id),
                    stream,
                    version,
                    type_name,
                    1,
                    msgspec.json.encode(data).decode(),
                    msgspec.json.encode(metadata).decode(),
                    recorded_at,
                    previous,
                )
            )
            if len(batch) == COPY_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


async def load_log(url: str, count: int) -> list[bytes]:
    canonicals: list[bytes] = []
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for batch in EventMaker(seed=6962).rows(count, canonicals):
            await conn.copy_records_to_table(
                "events", schema_name="ledger", columns=COLUMNS, records=batch
            )
        await conn.execute("VACUUM ANALYZE ledger.events")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('ledger.events'))")
        log(f"loaded {count:,} events ({size}) in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return canonicals


# --- chain verification ------------------------------------------------------------------


def raw_hash_rate(canonicals: list[bytes]) -> float:
    """Baseline (a): the chain hash alone over canonical bytes already in memory."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    digest = GENESIS_HASH
    for canonical in canonicals:
        digest = sha256(digest + canonical).digest()
    return len(canonicals) / (time.perf_counter() - started)


async def raw_copy_rate(url: str) -> float:
    """Baseline (b): the same COPY as ``audit verify``, hashing each row's bytes as sent."""
    conn = await db.connect(url)
    count = 0
    digest = GENESIS_HASH
    rest = b""

    async def on_chunk(chunk: bytes) -> None:
        nonlocal count, digest, rest
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            digest = hashlib.sha256(digest + line).digest()
        count += len(lines)

    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            started = time.perf_counter()
            await conn.copy_from_query(
                f"SELECT {AUDIT_COLUMNS} FROM ledger.events ORDER BY position", output=on_chunk
            )
            elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return count / elapsed


async def verify_rate(url: str, expected: int) -> float:
    """``credit-ledger audit verify``: the same connection, snapshot and collector setting."""
    conn = await db.connect(url)
    gc.disable()
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            started = time.perf_counter()
            result = await verify_database(conn)
            elapsed = time.perf_counter() - started
    finally:
        gc.enable()
        await conn.close()
    if not result.ok or result.matched != expected:
        raise RuntimeError(f"verification failed on a valid log: {result}")
    return expected / elapsed


async def write_export(url: str, path: Path) -> None:
    """What GET /v1/log/ndjson writes: the ledger's own reader and encoder."""
    from services.ledger.reads import stream_log

    pool = await db.create_pool(url, 2)
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    try:
        with path.open("wb") as export:
            async for event in stream_log(pool, 0, None, 2000):
                encoder.encode_into(event, buffer, len(buffer))
                buffer.extend(b"\n")
                if len(buffer) >= 1 << 20:
                    export.write(buffer)
                    buffer.clear()
            export.write(buffer)
    finally:
        await pool.close()


def raw_file_rate(path: Path) -> float:
    started = time.perf_counter()
    digest, count = GENESIS_HASH, 0
    with path.open("rb") as export:
        for line in export:
            digest = hashlib.sha256(digest + line).digest()
            count += 1
    return count / (time.perf_counter() - started)


def file_verify_rate(path: Path, expected: int) -> float:
    gc.disable()
    try:
        started = time.perf_counter()
        result = verify_export(path)
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    if not result.ok or result.matched != expected:
        raise RuntimeError(f"export verification failed on a valid log: {result}")
    return expected / elapsed


# --- the tree, proofs, heads -------------------------------------------------------------


async def build_tree(url: str, expected: int) -> dict[str, float]:
    """The TreeBuilder's rate, and the CPU it takes from the process it runs in (the
    ledger's, by default) per leaf."""
    conn = await db.connect(url)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        while (step := await build_step(conn, BUILD_BATCH)).leaves:
            if step.mismatch_count:
                raise RuntimeError(f"chain mismatch while building: {step.mismatches[0]}")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await conn.close()
    if step.tree_size != expected:
        raise RuntimeError(f"built {step.tree_size} leaves, expected {expected}")
    return {"leaves_per_s": expected / elapsed, "process_cpu_us_per_leaf": cpu / expected * 1e6}


def _quantiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def timed(samples: int, call: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    durations = []
    for sample in range(samples):
        started = time.perf_counter()
        await call(sample)
        durations.append(time.perf_counter() - started)
    return _quantiles_ms(durations)


async def proof_latency(url: str, size: int) -> dict[str, dict[str, float]]:
    rng = random.Random(9162)
    pool = await db.create_pool(url, 4)
    try:

        async def inclusion(_: int) -> None:
            async with pool.acquire() as conn:
                await proofs.inclusion(conn, rng.randrange(1, size + 1), size)

        async def consistency(_: int) -> None:
            async with pool.acquire() as conn:
                await proofs.consistency(conn, rng.randrange(1, size + 1), size)

        await timed(100, inclusion)  # warm the pool and the buffer cache
        return {
            "inclusion": await timed(PROOF_SAMPLES, inclusion),
            "consistency": await timed(PROOF_SAMPLES, consistency),
        }
    finally:
        await pool.close()


async def http_proof_latency(url: str, size: int, key_file: Path) -> dict[str, dict[str, float]]:
    """Through the ledger's HTTP API: auth, routing, the query, JSON (in-process ASGI)."""
    from litestar.testing import AsyncTestClient

    from services.ledger.app import create_app

    settings = load_settings(
        {
            "DATABASE_URL": url,
            "CREDIT_LEDGER_RELAY_ENABLED": "false",
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            "CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": str(key_file),
        }
    )
    conn = await asyncpg.connect(url)
    try:
        token = (await create_key(conn, role=Role.AUDITOR, name="bench")).token
    finally:
        await conn.close()
    rng = random.Random(6962)
    headers = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(settings), timeout=30) as client:

        async def get(path: str, params: dict[str, int]) -> None:
            response = await client.get(path, params=params, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")

        async def inclusion(_: int) -> None:
            params = {"position": rng.randrange(1, size + 1), "tree_size": size}
            await get("/v1/audit/proofs/inclusion", params)

        async def consistency(_: int) -> None:
            params = {"from_size": rng.randrange(1, size + 1), "to_size": size}
            await get("/v1/audit/proofs/consistency", params)

        await timed(50, inclusion)
        return {
            "inclusion": await timed(HTTP_PROOF_SAMPLES, inclusion),
            "consistency": await timed(HTTP_PROOF_SAMPLES, consistency),
        }


async def signing_time(url: str, key_file: Path) -> dict[str, dict[str, float]]:
    key = Ed25519PrivateKey.generate()
    root = hashlib.sha256(b"root").digest()
    now = dt.datetime.now(dt.UTC)
    durations = []
    for size in range(SIGN_SAMPLES * 5):
        started = time.perf_counter()
        sign_tree_head(key, "bench", size, root, now)
        durations.append(time.perf_counter() - started)
    signer = signer_from_key(key)
    conn = await db.connect(url)
    try:
        await register_key(conn, signer)

        async def whole_head(_: int) -> None:
            await sign_current_tree(conn, signer, dt.datetime.now(dt.UTC))

        whole = await timed(SIGN_SAMPLES, whole_head)
    finally:
        await conn.close()
    return {"ed25519_signature": _quantiles_ms(durations), "signed_head": whole}


# --- the run -----------------------------------------------------------------------------


def best(values: list[float]) -> float:
    return max(values)


async def run(url: str, events: int, repeat: int, workdir: Path) -> dict[str, Any]:
    await apply_migrations(url)
    canonicals = await load_log(url, events)
    report: dict[str, Any] = {
        "events": events,
        "machine": machine_facts(),
        "load_average_start": os.getloadavg(),
    }

    log("baseline (a): hashlib over the canonical bytes in memory")
    raw = [raw_hash_rate(canonicals) for _ in range(repeat)]
    mean_bytes = statistics.fmean(len(c) for c in canonicals)
    del canonicals
    log("baseline (b): the same COPY, hashing the bytes PostgreSQL sends")
    copy_raw = [await raw_copy_rate(url) for _ in range(repeat)]
    log("audit verify (database)")
    verified = [await verify_rate(url, events) for _ in range(repeat)]
    report["verify_db"] = {
        "events_per_s": verified,
        "raw_hash_events_per_s": raw,
        "raw_copy_events_per_s": copy_raw,
        "canonical_bytes_mean": mean_bytes,
        "ratio_to_raw_hash": best(verified) / best(raw),
        "ratio_to_raw_copy": best(verified) / best(copy_raw),
    }

    export = workdir / "export.ndjson"
    log("writing the NDJSON export (the ledger's reader and encoder)")
    await write_export(url, export)
    log("audit verify --file")
    file_raw = [raw_file_rate(export) for _ in range(repeat)]
    file_verified = [file_verify_rate(export, events) for _ in range(repeat)]
    report["verify_file"] = {
        "events_per_s": file_verified,
        "raw_hash_lines_per_s": file_raw,
        "bytes": export.stat().st_size,
        "ratio_to_raw_hash": best(file_verified) / best(file_raw),
    }
    export.unlink()

    log("building the Merkle tree (TreeBuilder steps)")
    report["tree_build"] = await build_tree(url, events)
    log("proof latency (service function)")
    report["proofs"] = await proof_latency(url, events)
    key_file = workdir / "tree-signing-key.pem"
    create_key_file(key_file)
    log("proof latency (HTTP)")
    report["proofs_http"] = await http_proof_latency(url, events, key_file)
    log("tree-head signing")
    report["signing"] = await signing_time(url, key_file)
    report["load_average_end"] = os.getloadavg()
    return report


def render(report: dict[str, Any]) -> str:
    db_v, file_v = report["verify_db"], report["verify_file"]

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rate = best(db_v["events_per_s"])
    lines = [
        f"audit benchmark: {report['events']:,} events, mean canonical size "
        f"{db_v['canonical_bytes_mean']:.0f} bytes; {report['machine']['nproc']} CPUs "
        f"({report['machine']['cpu_model']}); load average at start "
        f"{report['load_average_start'][0]:.2f}, at end {report['load_average_end'][0]:.2f}",
        "",
        "chain verification                         events/s   (best of runs)",
        f"  audit verify (database)                 {rate:>10,.0f}   {verdict(rate >= TARGET_EVENTS_PER_S)} (target >= {TARGET_EVENTS_PER_S:,})",
        f"  (a) hashlib over canonical bytes        {best(db_v['raw_hash_events_per_s']):>10,.0f}   ratio {db_v['ratio_to_raw_hash']:.2f} {verdict(db_v['ratio_to_raw_hash'] >= TARGET_RAW_RATIO)} (target >= {TARGET_RAW_RATIO})",
        f"  (b) same COPY + hashlib over rows       {best(db_v['raw_copy_events_per_s']):>10,.0f}   ratio {db_v['ratio_to_raw_copy']:.2f} {verdict(db_v['ratio_to_raw_copy'] >= TARGET_RAW_RATIO)}",
        f"  audit verify --file (NDJSON export)     {best(file_v['events_per_s']):>10,.0f}",
        f"  hashlib over the export's lines         {best(file_v['raw_hash_lines_per_s']):>10,.0f}   ratio {file_v['ratio_to_raw_hash']:.2f}",
        "",
        f"tree build (TreeBuilder steps)            {report['tree_build']['leaves_per_s']:>10,.0f} leaves/s,"
        f" {report['tree_build']['process_cpu_us_per_leaf']:.1f} us of the builder process's CPU per leaf",
        "",
        f"proofs at tree size {report['events']:,}               p50 ms    p99 ms    max ms",
    ]
    for source, label in (("proofs", "service"), ("proofs_http", "HTTP")):
        for kind, figures in report[source].items():
            ok = verdict(figures["p99_ms"] < TARGET_PROOF_P99_MS)
            lines.append(
                f"  {kind:<12} ({label:<7})              {figures['p50_ms']:>8.2f}  {figures['p99_ms']:>8.2f}  {figures['max_ms']:>8.2f}   {ok} (p99 < {TARGET_PROOF_P99_MS} ms)"
            )
    lines.append("")
    lines.append("tree-head signing                         p50 ms    p99 ms")
    for kind, figures in report["signing"].items():
        lines.append(f"  {kind:<38}  {figures['p50_ms']:>8.3f}  {figures['p99_ms']:>8.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput figure")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--data-dir", type=Path, help="where the embedded PostgreSQL keeps its data"
    )
    options = parser.parse_args(argv)
    configure_logging("warning", "console")
    if not 1 <= options.events <= 50_000_000 or not 1 <= options.repeat <= 10:
        parser.error("--events must be in 1..50,000,000 and --repeat in 1..10")
    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=options.data_dir))
    postgres = EmbeddedPostgres(workdir / "postgres", fsync=True)
    try:
        postgres.start()
        report = asyncio.run(run(postgres.url, options.events, options.repeat, workdir))
    finally:
        postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(report))
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
