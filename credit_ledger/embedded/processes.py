"""Helpers shared by the embedded servers: free ports, readiness waits, clean stops, and
servers that end with the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel just handed out and released (good enough on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Block until something accepts TCP connections on host:port, or fail loudly."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout_s} s")


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout_s: float) -> None:
    """Ask a child to stop with ``sig``; kill its whole process group if it does not."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def make_traversable(path: Path) -> None:
    """Let an unprivileged server user reach ``path`` (x on every ancestor, as root)."""
    for ancestor in [path, *path.parents]:
        with contextlib.suppress(OSError):
            mode = ancestor.stat().st_mode
            if not mode & 0o001:
                ancestor.chmod(mode | 0o011)


def stop_stale_server(pid_file: Path, program: str, timeout_s: float = 30.0) -> None:
    """Stop a server left running by an earlier run that was killed before it could.

    Both servers refuse to share their data directory with a live predecessor. The pid is
    only trusted if it still runs ``program`` (pids are reused).
    """
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if program.encode() not in cmdline.split(b"\0")[0]:
        return
    try:
        os.kill(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies, even by
    SIGKILL (Linux ``PR_SET_PDEATHSIG``); None where the kernel has no such thing (there the
    pid file is what stops a leftover server, on the next start).

    The kernel sends the signal when the *thread* that started the child ends: start
    servers from a thread that lives as long as they should (the main thread). It runs in
    the child after any change of user, which would otherwise clear the setting.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the setting took effect
            os.kill(os.getpid(), sig)

    return preexec


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
