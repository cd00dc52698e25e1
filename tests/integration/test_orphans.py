"""`credit-ledger dev` killed with SIGKILL takes its embedded servers with it: PostgreSQL
shuts down cleanly (the next start needs no recovery) and nats-server stops; the next
`credit-ledger dev` on the same data directory starts as usual. A server that outlived its
parent anyway (an older version, another platform) is stopped by the next start."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import process_alive
from tests.support.dev_command import dev_env, start_dev, stop_dev, wait_for_banner

pytestmark = pytest.mark.integration

GONE_WITHIN_S = 20.0


def _pid(pid_file: Path) -> int:
    return int(pid_file.read_text().split()[0])


def _wait_gone(pids: dict[str, int], timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    alive = dict(pids)
    while alive and time.monotonic() < deadline:
        alive = {name: pid for name, pid in alive.items() if process_alive(pid)}
        time.sleep(0.1)
    return alive


@pytest.mark.timeout(240)
def test_kill_9_of_the_dev_command_leaves_no_server_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = dev_env(data)
    first_log = tmp_path / "dev-1.log"
    first = start_dev(env, first_log, "--no-demo", "--fresh")
    try:
        wait_for_banner(first, first_log)
        servers = {
            "postgres": _pid(data / "postgres" / "postmaster.pid"),
            "nats-server": _pid(data / "nats" / "nats-server.pid"),
        }
        assert all(process_alive(pid) for pid in servers.values()), servers
    finally:
        first.kill()
        first.wait()
    assert _wait_gone(servers, GONE_WITHIN_S) == {}, first_log.read_text()[-3000:]

    server_log = data / "postgres" / "server.log"
    seen = server_log.stat().st_size
    second_log = tmp_path / "dev-2.log"
    second = start_dev(env, second_log, "--no-demo")
    try:
        banner = wait_for_banner(second, second_log)
        with httpx.Client(base_url=banner["base URL"], timeout=10) as http:
            assert http.get("/ready").status_code == 200
            head = http.get("/v1/head", headers={"Authorization": f"Bearer {banner['admin key']}"})
            assert head.status_code == 200, head.text
        with server_log.open("rb") as log:
            log.seek(seen)
            restart = log.read().decode(errors="replace")
        # A clean shutdown, not a crash the new server had to recover from.
        assert "database system was shut down at" in restart, restart
        assert "not properly shut down" not in restart, restart
    finally:
        stop_dev(second, second_log)


@pytest.mark.timeout(120)
def test_a_postgres_that_outlived_its_parent_is_stopped_by_the_next_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "postgres"
    orphan = EmbeddedPostgres(data, fsync=False)
    orphan.start()
    stale = _pid(data / "postmaster.pid")
    # As if the process that started it were gone: nobody will stop it.
    orphan._process = None
    successor = EmbeddedPostgres(data, fsync=False)
    try:
        successor.start()
        assert not process_alive(stale)
        assert _pid(data / "postmaster.pid") != stale
    finally:
        successor.destroy()
