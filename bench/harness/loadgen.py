"""One load-generating worker process of the benchmark: many concurrent clients, one phase.

Run by the benchmarks (``bench.harness.workers``) as
``python -m bench.harness.loadgen SPEC.json RESULT.json``. The
worker sets up its connections, prints ``READY``, waits for ``GO <epoch seconds>`` on
stdin (so every worker of a phase starts at the same instant), runs its phase and writes a
``WorkerResult``. Every loop is bounded in time (``seconds``) or in count (``rows``).

Modes:
- ``raw_insert``: single-row INSERT, autocommit (one commit per event), per connection.
- ``http_single``: closed loop of POST /v1/events, one AssessmentPassed per request.
- ``http_batch``: closed loop of POST /v1/events/batch, ``batch_size`` events per request.
- ``copy``: COPY of ``rows`` precomputed rows, ``chunk`` rows per COPY (each its own commit).
- ``http_paced``: open loop, ``rate`` events/s in batches of ``batch_size``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import uvloop

from bench.harness.bodies import (
    CONNECTION_SLOT,
    INSERT_SQL,
    RAW_COLUMNS,
    RAW_TABLE,
    EventFactory,
    raw_row,
)
from bench.harness.httpclient import (
    HttpClient,
    HttpxConnection,
    RawHttpConnection,
    shared_httpx_client,
)

ERROR_PAUSE_S = 0.01
SETUP_TIMEOUT_S = 60.0


class Spec(msgspec.Struct, kw_only=True):
    mode: str
    worker: int
    clients: int
    seconds: float
    tag: str
    assessed_on: str
    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    token: str = ""
    client_kind: str = "raw"
    position_base: int = 0
    rows: int = 0
    chunk: int = 1000
    batch_size: int = 1
    rate: float = 0.0
    learners: int = 100_000
    schema_version: int = 1
    samples: list[tuple[str, str]] = msgspec.field(default_factory=list)


class WorkerResult(msgspec.Struct, kw_only=True):
    worker: int
    events: int
    requests: int
    errors: int
    first_error: str | None
    latencies_ms: list[float]
    started_at: float
    elapsed_s: float
    cpu_s: float
    late_sends: int = 0


class Recorder:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.events = 0
        self.requests = 0
        self.errors = 0
        self.first_error: str | None = None

    def ok(self, seconds: float, events: int) -> None:
        self.latencies_ms.append(seconds * 1000.0)
        self.events += events
        self.requests += 1

    def error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text[:500]


async def _closed_loop(
    clients: list[HttpClient],
    path: str,
    make_body: Callable[[], bytes],
    events_per_request: int,
    end: float,
    recorder: Recorder,
) -> None:
    async def one(client: HttpClient) -> None:
        while True:
            body = make_body()
            started = time.perf_counter()
            if started >= end:
                return
            try:
                status, payload = await client.request("POST", path, body)
            except Exception as exc:
                recorder.error(repr(exc))
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            finished = time.perf_counter()
            if finished > end:
                return  # completed after the window closed: not counted
            if status == 201:
                recorder.ok(finished - started, events_per_request)
            else:
                recorder.error(f"HTTP {status}: {payload[:400]!r}")

    await asyncio.gather(*(one(client) for client in clients))


async def _paced(
    clients: list[HttpClient],
    factory: EventFactory,
    spec: Spec,
    recorder: Recorder,
) -> int:
    """Open loop: one request every batch_size / rate seconds, whatever the responses do.

    Latency counts from the scheduled send time, so a slow server cannot hide its queueing
    (no coordinated omission). Returns how many sends found no free connection on time.
    """
    interval = spec.batch_size / spec.rate
    count = max(1, int(spec.seconds / interval))
    free: asyncio.Queue[HttpClient] = asyncio.Queue()
    for client in clients:
        free.put_nowait(client)
    late = 0
    path = "/v1/events/batch" if spec.batch_size > 1 else "/v1/events"

    async def send(body: bytes, scheduled: float) -> None:
        client = await free.get()
        try:
            status, payload = await client.request("POST", path, body)
        except Exception as exc:
            recorder.error(repr(exc))
            return
        finally:
            free.put_nowait(client)
        if status == 201:
            recorder.ok(time.perf_counter() - scheduled, spec.batch_size)
        else:
            recorder.error(f"HTTP {status}: {payload[:400]!r}")

    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    for k in range(count):
        scheduled = start + k * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if free.empty():
            late += 1
        body = factory.batch(spec.batch_size) if spec.batch_size > 1 else factory.single()
        task = asyncio.create_task(send(body, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), 60.0)
    return late


async def _raw_insert(
    conns: list[asyncpg.Connection], spec: Spec, end: float, recorder: Recorder
) -> None:
    async def one(index: int, conn: asyncpg.Connection) -> None:
        position = spec.position_base + index * CONNECTION_SLOT
        while True:
            row = raw_row(position, spec.samples, spec.schema_version, dt.datetime.now(dt.UTC))
            started = time.perf_counter()
            if started >= end:
                return
            try:
                await conn.execute(INSERT_SQL, *row)
            except Exception as exc:
                recorder.error(repr(exc))
                await asyncio.sleep(ERROR_PAUSE_S)
                position += 1
                continue
            finished = time.perf_counter()
            position += 1
            if finished > end:
                return
            recorder.ok(finished - started, 1)

    await asyncio.gather(*(one(i, conn) for i, conn in enumerate(conns)))


def _copy_chunks(spec: Spec) -> list[list[list[tuple[Any, ...]]]]:
    """Per connection, its chunks of precomputed rows (built before the clock starts)."""
    recorded_at = dt.datetime.now(dt.UTC)
    per_conn: list[list[list[tuple[Any, ...]]]] = [[] for _ in range(spec.clients)]
    for index in range(spec.clients):
        share = spec.rows // spec.clients + (1 if index < spec.rows % spec.clients else 0)
        base = spec.position_base + index * CONNECTION_SLOT
        rows = [
            raw_row(base + k, spec.samples, spec.schema_version, recorded_at) for k in range(share)
        ]
        per_conn[index] = [rows[i : i + spec.chunk] for i in range(0, len(rows), spec.chunk)]
    return per_conn


async def _copy(
    conns: list[asyncpg.Connection],
    chunks: list[list[list[tuple[Any, ...]]]],
    deadline: float,
    recorder: Recorder,
) -> None:
    async def one(conn: asyncpg.Connection, mine: list[list[tuple[Any, ...]]]) -> None:
        for chunk in mine:
            if time.perf_counter() >= deadline:
                recorder.error("time cap reached before every row was copied")
                return
            started = time.perf_counter()
            try:
                await conn.copy_records_to_table(
                    RAW_TABLE, schema_name="public", records=chunk, columns=list(RAW_COLUMNS)
                )
            except Exception as exc:
                recorder.error(repr(exc))
                continue
            recorder.ok(time.perf_counter() - started, len(chunk))

    await asyncio.gather(*(one(conn, mine) for conn, mine in zip(conns, chunks, strict=True)))


async def _http_clients(spec: Spec) -> tuple[list[HttpClient], Callable[[], Awaitable[None]]]:
    shared: Any = None
    clients: list[HttpClient]
    if spec.client_kind == "httpx":
        shared = shared_httpx_client(spec.http_host, spec.http_port, spec.clients)
        clients = [HttpxConnection(shared, spec.token) for _ in range(spec.clients)]
    else:
        clients = [
            RawHttpConnection(spec.http_host, spec.http_port, spec.token)
            for _ in range(spec.clients)
        ]
    # Open (and warm) every connection before the clock starts.
    for status, _ in await asyncio.gather(*(c.request("GET", "/health") for c in clients)):
        if status != 200:
            raise RuntimeError(f"GET /health answered {status}")

    async def close() -> None:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if shared is not None:
            await shared.aclose()

    return clients, close


async def _wait_for_go() -> float:
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    parts = line.split()
    if len(parts) != 2 or parts[0] != "GO":
        raise SystemExit("no GO from the benchmark (it has gone away?)")
    return float(parts[1])


async def run(spec: Spec) -> WorkerResult:
    recorder = Recorder()
    conns: list[asyncpg.Connection] = []
    clients: list[HttpClient] = []
    close_clients: Callable[[], Awaitable[None]] | None = None
    chunks: list[list[list[tuple[Any, ...]]]] = []
    factory = EventFactory(spec.tag, spec.worker, spec.assessed_on, spec.learners)
    late = 0
    try:
        if spec.mode in {"raw_insert", "copy"}:
            conns = list(
                await asyncio.gather(
                    *(
                        asyncpg.connect(spec.database_url, timeout=SETUP_TIMEOUT_S)
                        for _ in range(spec.clients)
                    )
                )
            )
            if spec.mode == "copy":
                chunks = _copy_chunks(spec)
        else:
            clients, close_clients = await _http_clients(spec)
        start_at = await _wait_for_go()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started_at = time.time()
        cpu_before = time.process_time()
        begin = time.perf_counter()
        end = begin + spec.seconds
        if spec.mode == "raw_insert":
            await _raw_insert(conns, spec, end, recorder)
        elif spec.mode == "copy":
            await _copy(conns, chunks, end, recorder)
        elif spec.mode == "http_single":
            await _closed_loop(clients, "/v1/events", factory.single, 1, end, recorder)
        elif spec.mode == "http_batch":
            size = spec.batch_size
            await _closed_loop(
                clients, "/v1/events/batch", lambda: factory.batch(size), size, end, recorder
            )
        elif spec.mode == "http_paced":
            late = await _paced(clients, factory, spec, recorder)
        else:
            raise SystemExit(f"unknown mode {spec.mode!r}")
        # A closed loop counts what completed inside its window; the others run to the end.
        closed = spec.mode in {"raw_insert", "http_single", "http_batch"}
        elapsed = spec.seconds if closed else time.perf_counter() - begin
        cpu_s = time.process_time() - cpu_before
    finally:
        await asyncio.gather(*(c.close(timeout=5) for c in conns), return_exceptions=True)
        if close_clients is not None:
            await close_clients()
    return WorkerResult(
        worker=spec.worker,
        events=recorder.events,
        requests=recorder.requests,
        errors=recorder.errors,
        first_error=recorder.first_error,
        latencies_ms=recorder.latencies_ms,
        started_at=started_at,
        elapsed_s=elapsed,
        cpu_s=cpu_s,
        late_sends=late,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.harness.loadgen SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec = msgspec.json.decode(Path(args[0]).read_bytes(), type=Spec)
    result = uvloop.run(run(spec))
    Path(args[1]).write_bytes(msgspec.json.encode(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
