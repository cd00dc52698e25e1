"""The note a running ``credit-ledger dev`` keeps in its data directory, so that the other
commands (``keys``, ``migrate``, ``nats``, ``audit``, ``projector rebuild``) find the stack
with nothing exported: the embedded PostgreSQL listens on a port of its own choosing each
time it starts.

Written when the stack is up (atomically, readable by its owner only: the database URL
carries a password), removed when it stops; a note whose process is gone (a kill -9) is
not a running stack.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import msgspec

from credit_ledger.embedded.processes import process_alive

STACK_FILE_NAME = "dev-stack.json"
# The keys the dev stack makes once and keeps beside the note.
ADMIN_KEY_FILE = "admin.key"
PROJECTOR_KEY_FILE = "projector.key"
ISSUER_KEY_FILE = "issuer.key"


class DevStack(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    database_url: str
    nats_url: str
    ledger_url: str
    projector_url: str
    issuer_url: str


def stack_file(data_dir: Path) -> Path:
    return data_dir / STACK_FILE_NAME


def announce(data_dir: Path, stack: DevStack) -> None:
    path = stack_file(data_dir)
    partial = path.with_suffix(".tmp")
    partial.write_bytes(msgspec.json.encode(stack))
    partial.chmod(0o600)
    os.replace(partial, path)


def withdraw(data_dir: Path, pid: int) -> None:
    """Removes the note if it is this process's (a newer stack may have replaced it)."""
    found = _read(stack_file(data_dir))
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            stack_file(data_dir).unlink()


def running_stack(data_dir: Path) -> DevStack | None:
    """The stack whose note is in ``data_dir``, if its process still runs."""
    found = _read(stack_file(data_dir))
    if found is None or not process_alive(found.pid):
        return None
    return found


def not_set(variable: str, data_dir: Path) -> int:
    """Exit status 2, saying what is missing and how to provide it."""
    print(
        f"{variable} is not set, and no dev stack is running in {data_dir}: start one with"
        f" `make run` (or set CREDIT_LEDGER_DATA_DIR to its data directory), or export"
        f" {variable}",
        file=sys.stderr,
    )
    return 2


def _read(path: Path) -> DevStack | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=DevStack)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None
