"""Prometheus metrics of a service that runs as several processes, scraped as one.

``credit-ledger serve`` with more than one worker, the relay and the tree builder are
separate processes. Each writes its samples to files in one directory
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), and ``/metrics``
on any worker reads them all: counters and histograms summed over the processes, gauges
by the mode each declares. Without the variable a process keeps its own registry.

The variable must be set before ``prometheus_client`` is first imported by the process
that records (the library picks its value store at import), so the parent prepares the
directory and its children inherit it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def shared_metrics_dir() -> Path | None:
    """The directory this process's samples go to, or None (a registry of its own)."""
    value = os.environ.get(MULTIPROCESS_DIR_ENV)
    return Path(value) if value else None


def prepare_shared_metrics(env: dict[str, str]) -> Path:
    """A directory for the processes about to start, empty (samples of an earlier run would
    be summed in), named in ``env``: the configured one, or a new temporary one."""
    configured = env.get(MULTIPROCESS_DIR_ENV)
    if configured:
        folder = Path(configured)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="credit-ledger-metrics-"))
        env[MULTIPROCESS_DIR_ENV] = str(folder)
    return folder


def exposition(own: CollectorRegistry) -> bytes:
    """The text ``/metrics`` answers: every process's samples in multiprocess mode, else
    this process's registry."""
    # Imported here, not above: a parent that only prepares the directory must not have
    # imported prometheus_client (see the module's docstring).
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    folder = shared_metrics_dir()
    if folder is None:
        return generate_latest(own)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_stopped() -> None:
    """Drop this process's live gauges (``live*`` modes) as it stops."""
    from prometheus_client import multiprocess

    folder = shared_metrics_dir()
    if folder is not None:
        multiprocess.mark_process_dead(os.getpid(), path=str(folder))  # type: ignore[no-untyped-call]
