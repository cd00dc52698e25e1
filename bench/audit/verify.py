"""Chain verification from PostgreSQL and from a file, against raw hashing baselines, and the tree build."""

from __future__ import annotations

import gc
import hashlib
import time
from pathlib import Path

import msgspec

from bench.audit.eventlog import BUILD_BATCH
from proto.canonical import GENESIS_HASH
from services.common import db
from services.ledger.audit.stored_rows import AUDIT_COLUMNS
from services.ledger.audit.tree_build import build_step
from services.ledger.audit.verify import verify_database, verify_export


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
