"""The CLI's commands against a running `credit-ledger dev`, with neither DATABASE_URL nor
NATS_URL exported: each finds the stack from the note it keeps in its data directory, and
says clearly when no stack is running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.dev_command import dev_env, start_dev, stop_dev, wait_for_banner
from tests.support.factories import NSTI

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT_S = 120


SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sample-passes.csv"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


@pytest.mark.timeout(300)
def test_every_command_finds_the_running_dev_stack(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "data")
    log = tmp_path / "dev.log"
    dev = start_dev(env, log, "--fresh")
    try:
        wait_for_banner(dev, log)
        created = _cli(env, "keys", "create", "--role", "institution", "--institution", NSTI)
        assert created.returncode == 0, created.stderr
        key_id = created.stderr.split("key id ")[1].split()[0]
        auditor = _cli(env, "keys", "create", "--role", "auditor", "--name", "audits")
        assert auditor.returncode == 0, auditor.stderr

        listed = _cli(env, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        assert key_id in listed.stdout
        assert "active" in listed.stdout

        revoked = _cli(env, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        assert f"{key_id}  institution" in _cli(env, "keys", "list").stdout
        assert "revoked" in _cli(env, "keys", "list").stdout

        migrated = _cli(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "none pending" in migrated.stdout
        declared = _cli(env, "nats", "declare")
        assert declared.returncode == 0, declared.stderr
        assert "declared" in declared.stdout

        verified = _cli(env, "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr

        replay_env = {**env, "CREDIT_LEDGER_AUDIT_API_KEY": auditor.stdout.strip()}
        replayed = _cli(replay_env, "audit", "replay", "--learner", "123456789012", "--json")
        # The demo catalog has no events of this learner: the stack's ledger answers so.
        assert replayed.returncode == 1, replayed.stderr
        assert "no events for learner 123456789012" in replayed.stderr

        # An institution's file, with only the institution's key given.
        importer = _cli(env, "keys", "create", "--role", "institution", "--institution", NSTI)
        import_env = {**env, "CREDIT_LEDGER_IMPORT_API_KEY": importer.stdout.strip()}
        report = tmp_path / "sample.report.csv"
        imported = _cli(import_env, "import", "passes", str(SAMPLE), "--report", str(report))
        assert imported.returncode == 0, imported.stderr
        assert "3 recorded" in imported.stderr
        assert report.read_text().count(",recorded,") == 3

        tree = _cli(env, "audit", "rebuild-tree")
        assert tree.returncode == 0, tree.stdout + tree.stderr

        # The stack's projector holds its partitions, so a rebuild is refused by name:
        # it reached the stack's database with the stack's own projector key.
        rebuilt = _cli(env, "projector", "rebuild", "--exit")
        assert rebuilt.returncode == 1, rebuilt.stderr
        assert "a projector is running" in rebuilt.stderr
    finally:
        stop_dev(dev, log)
    gone = _cli(env, "keys", "list")
    assert gone.returncode == 2
    assert "no dev stack is running" in gone.stderr
    assert "make run" in gone.stderr
    assert not (tmp_path / "data" / "dev-stack.json").exists()
