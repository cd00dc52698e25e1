"""The README's run command, end to end: `credit-ledger dev` from nothing, then Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.factories import NSTI, append_body, assessment_passed
from tests.support.servers import dev_stack_ports

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_S = 90.0


def _wait_for_banner(process: subprocess.Popen[str], log: Path) -> dict[str, str]:
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


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@pytest.mark.timeout(180)
def test_the_dev_command_runs_the_system_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NATS_URL"}}
    env.update(
        CREDIT_LEDGER_DATA_DIR=str(tmp_path / "data"),
        **dev_stack_ports(),
        CREDIT_LEDGER_LOG_LEVEL="warning",
    )
    log = tmp_path / "dev.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "credit_ledger.cli", "dev", "--fresh"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    try:
        banner = _wait_for_banner(process, log)
        base, admin = banner["base URL"], banner["admin key"]
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/health").status_code == 200
            created = http.post(
                "/v1/admin/api-keys",
                json={"role": "institution", "institution_id": NSTI, "name": "nsti"},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert created.status_code == 201, created.text
            key = created.json()["key"]
            appended = http.post(
                "/v1/events",
                json=append_body(assessment_passed()),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert appended.status_code == 201, appended.text
            assert appended.json()["position"] == 29  # after the 28 demo catalog events
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
    data = tmp_path / "data"
    assert not _alive(data / "postgres" / "postmaster.pid")
    assert not _alive(data / "nats" / "nats-server.pid")
