"""What one HTTP request costs on this machine before the ledger does anything: a floor.

    .venv/bin/python -m bench.http_floor [--seconds N] [--clients N]

Serves a minimal ASGI app under uvicorn exactly as ``credit-ledger serve`` runs the ledger
(one process, uvloop, httptools, no access log) that reads each request's body and
answers ``201`` with a fixed ``AppendResult``-sized JSON body, and drives it with the
write-path benchmark's own load generator, phase (b)'s way: the same raw HTTP client, 64
clients in 2 processes, one ``AssessmentPassed`` body per request.

It prints requests/s, and the CPU per request of the server, of the load generator and
of the kernel's interrupt handling. Nothing here touches PostgreSQL or NATS, so these are
costs that no change to the ledger's own code can remove from (b): compare them with
``bench.ledger_bench``'s per-append figures (docs/architecture.md §3, "What bounds the
write path").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

from bench.harness import workers
from bench.harness.loadgen import Spec
from bench.harness.servers import HOST, python_env, start_service, stop
from bench.harness.sysinfo import IRQ, MACHINE, cpu_snapshot, percentile
from credit_ledger.embedded.processes import free_port

# An AppendResult's size: what the ledger answers a single append with.
ANSWER = (
    b'{"event_id":"0b6c7c1e-5f2a-4f55-9a57-0c2e8d1f4b11","position":123456,'
    b'"stream":"learner-L000123","stream_version":7,'
    b'"recorded_at":"2026-12-03T13:00:00.123456Z",'
    b'"hash":"9f2c1a7e5b3d4c6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",'
    b'"duplicate":false}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers 201 with ``ANSWER`` (200 to the load generator's
    warm-up ``GET /health``): an ASGI app that does nothing."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    status = 201 if scope["method"] == "POST" else 200
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER, "more_body": False})


def serve(port: int) -> None:
    uvicorn.run(
        "bench.http_floor:floor_app",
        host=HOST,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        loop="uvloop",
        http="httptools",
    )


async def measure(port: int, server_pid: int, seconds: float, clients: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="http-floor-"))
    specs = [
        Spec(
            mode="http_single",
            worker=worker,
            clients=clients // 2,
            seconds=seconds,
            tag=f"floor{worker}",
            assessed_on="2026-11-01",
            http_host=HOST,
            http_port=port,
            token="floor-key-unchecked",  # noqa: S106 (the floor app checks no key)
        )
        for worker in range(2)
    ]
    processes = await workers.spawn(folder, specs)
    try:
        start_at = await workers.go(processes)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        before = cpu_snapshot({"server": server_pid})
        await asyncio.sleep(seconds)
        after = cpu_snapshot({"server": server_pid})
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), seconds + 60)
        results = workers.results(folder, specs, processes)
    finally:
        await workers.stop(processes)
    requests = sum(r.requests for r in results)
    rate = requests / seconds
    latencies = sorted(v for r in results for v in r.latencies_ms)

    def per_request_us(cpu_s: float) -> float:
        return cpu_s / max(requests, 1) * 1e6

    return {
        "requests_per_s": rate,
        "errors": float(sum(r.errors for r in results)),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "server_us": per_request_us(after["server"] - before["server"]),
        "loadgen_us": per_request_us(sum(r.cpu_s for r in results)),
        "irq_us": per_request_us(after[IRQ] - before[IRQ]),
        "machine_cores": (after[MACHINE] - before[MACHINE]) / seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_floor", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    port = free_port(HOST)
    workdir = Path(tempfile.mkdtemp(prefix="http-floor-server-"))
    server = start_service(
        ["-m", "bench.http_floor", "--serve", str(port)],
        python_env(),
        port,
        workdir / "server.log",
        what="the floor server",
    )
    try:
        found = asyncio.run(measure(port, server.pid, args.seconds, args.clients))
    finally:
        stop(server)
    print(
        f"HTTP floor (uvicorn + uvloop + httptools, an app that does nothing),"
        f" {args.clients} clients, {args.seconds:g} s:\n"
        f"  {found['requests_per_s']:,.0f} requests/s, p50 {found['p50_ms']:.2f} ms,"
        f" p99 {found['p99_ms']:.2f} ms, errors {found['errors']:.0f};"
        f" machine {found['machine_cores']:.2f} cores busy\n"
        f"  CPU per request: server {found['server_us']:.0f} us,"
        f" load generator {found['loadgen_us']:.0f} us, interrupts {found['irq_us']:.0f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
