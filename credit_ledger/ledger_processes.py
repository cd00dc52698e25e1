"""``credit-ledger serve``: the ledger's HTTP API on one port, as one process or several.

``CREDIT_LEDGER_WORKERS`` HTTP processes serve one listening socket (this process itself
when there is one; uvicorn's supervisor and its workers when there are more), each with
its own pool and group commit: the append lock keeps positions gap-free and in commit
order across them (docs/architecture.md §3). The relay (``credit-ledger relay``) and the
tree builder (``credit-ledger audit build-tree``) run as child processes of their own, so
that neither takes an HTTP worker's core. ``CREDIT_LEDGER_RELAY_ENABLED=false`` or
``CREDIT_LEDGER_TREE_BUILDER_ENABLED=false`` leaves that one to be run elsewhere.

All of them record their metrics in one directory (``services.common.shared_metrics``), so
that ``/metrics`` on any worker reports the whole ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import uvicorn

from credit_ledger.embedded.processes import die_with_parent
from services.common.settings import Settings
from services.common.shared_metrics import prepare_shared_metrics

GRACEFUL_STOP_S = 10


def serve_ledger(settings: Settings, overrides: Mapping[str, str] | None = None) -> int:
    """Serve until stopped (SIGINT or SIGTERM). ``overrides`` are environment variables the
    processes get on top of this one's (the dev stack's resolved URLs)."""
    env = {**os.environ, **(overrides or {})}
    prepare_shared_metrics(env)
    helpers = []
    if settings.ledger.relay_enabled:
        helpers.append(["relay"])
    if settings.audit.tree_builder_enabled:
        helpers.append(["audit", "build-tree"])
    with _children(helpers, env):
        # The workers (this process itself, with one) read their settings from here.
        os.environ.clear()
        os.environ.update(
            {
                **env,
                "CREDIT_LEDGER_RELAY_ENABLED": "false",
                "CREDIT_LEDGER_TREE_BUILDER_ENABLED": "false",
            }
        )
        uvicorn.run(
            "services.ledger.app:app_from_environment",
            factory=True,
            workers=settings.ledger.workers,
            host=settings.http.host,
            port=settings.http.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
    return 0


@contextmanager
def _children(commands: list[list[str]], env: dict[str, str]) -> Iterator[None]:
    """``credit-ledger`` subcommands run as child processes for as long as the block runs,
    then stopped with SIGTERM (killed if they outlive the graceful stop)."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "credit_ledger", *command],
            env=env,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        for command in commands
    ]
    try:
        yield
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(GRACEFUL_STOP_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
