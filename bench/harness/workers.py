"""Load-generating worker processes (``bench.harness.loadgen``): start, ready, go, results."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import msgspec

from bench.harness.loadgen import Spec, WorkerResult
from bench.harness.servers import REPO_ROOT, python_env

WORKER_READY_TIMEOUT_S = 180.0
GO_DELAY_S = 0.3


def _error_of(folder: Path, spec: Spec) -> str:
    return (folder / f"worker-{spec.worker}.err").read_text(errors="replace")[-3000:]


async def spawn(folder: Path, specs: list[Spec]) -> list[asyncio.subprocess.Process]:
    """One worker per spec; each has set up its connections when this returns."""
    env = python_env()
    processes: list[asyncio.subprocess.Process] = []
    try:
        for spec in specs:
            spec_path = folder / f"spec-{spec.worker}.json"
            spec_path.write_bytes(msgspec.json.encode(spec))
            with (folder / f"worker-{spec.worker}.err").open("wb") as err:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.harness.loadgen",
                        str(spec_path),
                        str(folder / f"result-{spec.worker}.json"),
                        cwd=REPO_ROOT,
                        env=env,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=err,
                        start_new_session=True,
                    )
                )
        for spec, process in zip(specs, processes, strict=True):
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), WORKER_READY_TIMEOUT_S)
            if line.strip() != b"READY":
                await asyncio.sleep(0.2)
                raise RuntimeError(
                    f"worker {spec.worker} failed to start:\n{_error_of(folder, spec)}"
                )
    except BaseException:
        await stop(processes)
        raise
    return processes


async def go(processes: list[asyncio.subprocess.Process]) -> float:
    """Tell every worker the same start instant (epoch seconds), and return it."""
    start_at = time.time() + GO_DELAY_S
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"GO {start_at!r}\n".encode())
        await process.stdin.drain()
    return start_at


def results(
    folder: Path, specs: list[Spec], processes: list[asyncio.subprocess.Process]
) -> list[WorkerResult]:
    collected: list[WorkerResult] = []
    for spec, process in zip(specs, processes, strict=True):
        path = folder / f"result-{spec.worker}.json"
        if process.returncode != 0 or not path.exists():
            raise RuntimeError(f"worker {spec.worker} failed:\n{_error_of(folder, spec)}")
        collected.append(msgspec.json.decode(path.read_bytes(), type=WorkerResult))
    return collected


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    for process in processes:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)


async def run_to_end(folder: Path, specs: list[Spec], timeout_s: float) -> list[WorkerResult]:
    """Spawn, go, wait for every worker to finish (bounded), and read their results."""
    processes = await spawn(folder, specs)
    try:
        await go(processes)
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), timeout_s)
        return results(folder, specs, processes)
    finally:
        await stop(processes)
