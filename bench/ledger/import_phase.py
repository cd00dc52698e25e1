"""(e) CSV import: a 100,000-row file through ``credit-ledger import passes`` into the same
ledger, as an institution runs it (its own process, its own key, the per-key fair share
on), against phase (c)'s HTTP batch rate (issue 14's target: at least half of it)."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import sys
import time

import msgspec

from bench.harness.bodies import CNC_CODES
from bench.harness.servers import HOST
from bench.ledger.models import Bench, log
from bench.ledger.phases import before_phase
from bench.ledger.setup import relay_catch_up

IMPORT_ROWS = 100_000
IMPORT_BATCH_ROWS = 1000
IMPORT_TIMEOUT_S = 600.0


class ImportResult(msgspec.Struct, kw_only=True):
    rows: int
    recorded: int
    seconds: float
    rows_per_s: float
    exit_status: int


async def phase_import(bench: Bench, rows: int = IMPORT_ROWS) -> ImportResult:
    label = f"(e) CSV import of {rows:,} rows"
    await before_phase(bench, label)
    path = bench.workdir / "import.csv"
    report = bench.workdir / "import.report.csv"
    _write_file(path, rows, bench.tag, bench.assessed_on())
    env = {
        **os.environ,
        "CREDIT_LEDGER_IMPORT_API_KEY": bench.institution_token,
        "CREDIT_LEDGER_LEDGER_URL": f"http://{HOST}:{bench.http_port}",
        "CREDIT_LEDGER_DATA_DIR": str(bench.workdir / "import-cli"),
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
    }
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "credit_ledger.cli",
        "import",
        "passes",
        str(path),
        "--batch-rows",
        str(IMPORT_BATCH_ROWS),
        "--report",
        str(report),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), IMPORT_TIMEOUT_S)
    seconds = time.monotonic() - started
    recorded = _recorded(report)
    log(f"{label}: {stderr.decode().strip().splitlines()[-1] if stderr else ''}")
    await relay_catch_up(bench, bench.options.catchup_timeout_s)
    return ImportResult(
        rows=rows,
        recorded=recorded,
        seconds=seconds,
        rows_per_s=recorded / max(seconds, 1e-9),
        exit_status=process.returncode or 0,
    )


def _write_file(path: os.PathLike[str], rows: int, tag: str, assessed_on: str) -> None:
    choose = random.Random(f"import-{tag}").choice
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["learner_id", "micro_credential_code", "assessment_id", "assessed_on", "mode"]
        )
        for n in range(rows):
            learner = f"{300_000_000_000 + n % 100_000:012d}"
            writer.writerow(
                [learner, choose(CNC_CODES), f"IMPORT-{tag}-{n}", assessed_on, "training"]
            )


def _recorded(report: os.PathLike[str]) -> int:
    try:
        with open(report, newline="") as lines:
            return sum(1 for row in csv.DictReader(lines) if row["outcome"] == "recorded")
    except FileNotFoundError:
        return 0
