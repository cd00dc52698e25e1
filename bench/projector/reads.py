"""(a) reading the whole log three ways: the database, the NDJSON export, LedgerClient."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg

from bench.harness.servers import (
    HOST,
    LedgerServer,
)
from bench.harness.sysinfo import (
    Machine,
    cores,
)
from bench.projector.models import ReadResult
from services.common.ledger_client import LedgerClient
from services.projector.log_entry import from_recorded

# --- (a) reading the log ----------------------------------------------------------------------


# The columns of the ledger's own log reads (services/ledger/reads.py, stream_log), rows
# only: the scan measures what PostgreSQL and asyncpg deliver, not the decoding.
LOG_COLUMNS = (
    "position, event_id::text AS event_id, stream, stream_version, type, schema_version,"
    " data::text AS data, metadata::text AS metadata, recorded_at, hash"
)


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
    """What the rebuild reads, and how: LedgerClient.log_ndjson (httpx) + from_recorded."""
    client = LedgerClient(server.url, token)
    before = machine.snapshot()
    started = time.perf_counter()
    events = 0
    try:
        async for recorded in client.log_ndjson(0):
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
