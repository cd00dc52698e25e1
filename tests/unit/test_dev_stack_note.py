"""The note `credit-ledger dev` leaves for the other commands (credit_ledger.stack_file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from credit_ledger.stack_file import DevStack, announce, running_stack, stack_file, withdraw


def _stack(pid: int) -> DevStack:
    return DevStack(
        pid=pid,
        database_url="postgresql://u:p@127.0.0.1:5999/db",
        nats_url="nats://127.0.0.1:4999",
        ledger_url="http://127.0.0.1:8000",
        projector_url="http://127.0.0.1:8001",
        issuer_url="http://127.0.0.1:8002",
    )


def test_a_running_stack_is_found_and_its_note_is_private(tmp_path: Path) -> None:
    announce(tmp_path, _stack(os.getpid()))
    assert running_stack(tmp_path) == _stack(os.getpid())
    assert stack_file(tmp_path).stat().st_mode & 0o077 == 0


def test_a_note_whose_process_is_gone_is_no_stack(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    announce(tmp_path, _stack(gone.pid))
    assert running_stack(tmp_path) is None


def test_no_note_or_a_damaged_one_is_no_stack(tmp_path: Path) -> None:
    assert running_stack(tmp_path) is None
    stack_file(tmp_path).write_text("{not json")
    assert running_stack(tmp_path) is None


def test_only_the_stack_that_wrote_the_note_removes_it(tmp_path: Path) -> None:
    announce(tmp_path, _stack(os.getpid()))
    withdraw(tmp_path, os.getpid() + 1)
    assert stack_file(tmp_path).exists()
    withdraw(tmp_path, os.getpid())
    assert not stack_file(tmp_path).exists()
