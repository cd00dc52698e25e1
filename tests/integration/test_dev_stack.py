"""The README's run command, end to end: `credit-ledger dev` from nothing, then Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.dev_command import dev_env, start_dev, stop_dev, wait_for_banner
from tests.support.factories import NSTI, append_body, assessment_passed

pytestmark = pytest.mark.integration


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@pytest.mark.timeout(180)
def test_the_dev_command_runs_the_system_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    process = start_dev(dev_env(tmp_path / "data"), log, "--fresh")
    try:
        banner = wait_for_banner(process, log)
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
        stop_dev(process, log)
    data = tmp_path / "data"
    assert not _alive(data / "postgres" / "postmaster.pid")
    assert not _alive(data / "nats" / "nats-server.pid")
