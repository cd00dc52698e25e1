"""`credit-ledger dev` as a process of its own, as a user runs it: its environment (no
URLs exported, free ports, a data directory of the test's), its start, its banner and its
Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.servers import dev_stack_ports

STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0


def dev_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NATS_URL"}}
    env.update(
        CREDIT_LEDGER_DATA_DIR=str(data_dir),
        **dev_stack_ports(),
        CREDIT_LEDGER_LOG_LEVEL="warning",
    )
    return env


def start_dev(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[str]:
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "credit_ledger.cli", "dev", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )


def wait_for_banner(process: subprocess.Popen[str], log: Path) -> dict[str, str]:
    """The banner's lines (base URL, admin key, NATS, database) once it is printed."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text()
        if "Press Ctrl-C to stop." in text:
            return dict(
                re.findall(r"^  (base URL|admin key|NATS|database)\s+(\S+)$", text, re.MULTILINE)
            )
        if process.poll() is not None:
            raise AssertionError(f"credit-ledger dev exited early:\n{text[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no banner within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop_dev(process: subprocess.Popen[str], log: Path) -> None:
    """Ctrl-C, and a clean exit (killed if it does not come)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=STOP_TIMEOUT_S) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
