"""Runs the eventsourcing peer (``bench.ledger.peer``) as a process of its own, in the run."""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from typing import Any

import msgspec

from bench.harness.report import progress_logger
from bench.harness.servers import REPO_ROOT, python_env
from bench.ledger.models import Bench

log = progress_logger("bench")
NOT_INSTALLED = 3


async def run_peer(bench: Bench) -> dict[str, Any]:
    """Its events/s per scenario, or why it did not run (the ``bench`` extra is optional)."""
    try:
        version = importlib.metadata.version("eventsourcing")
    except importlib.metadata.PackageNotFoundError:
        return {"error": "not installed (pip install -e '.[bench]')"}
    log(f"peer: eventsourcing {version}, {bench.options.seconds:g} s per scenario")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ledger.peer",
        bench.database_url,
        "--seconds",
        str(bench.options.seconds),
        cwd=REPO_ROOT,
        env=python_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return {"error": f"failed with {process.returncode}: {tail[0]}"}
    result: dict[str, Any] = msgspec.json.decode(out)
    result["version"] = version
    log(
        f"peer: serial {result['serial']:,.0f}, 16 threads {result['threads16']:,.0f},"
        f" batches {result['batch1000']:,.0f} events/s"
    )
    return result
