"""The peer of the write-path benchmark: pyeventsourcing/eventsourcing on the same PostgreSQL.

eventsourcing (the most used Python event store) saves aggregates' events through its
PostgreSQL recorder (psycopg 3, one transaction per ``save``). Run by ``bench.ledger_bench``
as a process of its own, in the same run and against the same server as phases (a)-(d),
so the ratios compare like with like:

- ``serial``: one thread, one new aggregate (one event) per ``save``;
- ``threads16``: 16 threads doing the same;
- ``batch1000``: one thread, 1000 new aggregates per ``save`` (one transaction).

It comes from the optional ``bench`` extra (``pip install -e '.[bench]'``).

    python -m bench.ledger.peer postgresql://user@host:port/db --seconds 5
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import urllib.parse
from typing import Any

import msgspec

THREADS = 16
BATCH = 1000


SCHEMA = "peer_eventsourcing"


def _fresh_schema(database_url: str) -> None:
    """The peer's tables in a schema of their own, emptied: each run starts alike."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")


def _application(database_url: str, pool_size: int) -> Any:
    from eventsourcing.application import Application

    url = urllib.parse.urlsplit(database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": urllib.parse.unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": urllib.parse.unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_SCHEMA": SCHEMA,
        "CREATE_TABLE": "true",
    }
    return Application(env=env)


def _pass_class() -> Any:
    from eventsourcing.domain import Aggregate, event

    class Pass(Aggregate):
        """One assessment pass, as an aggregate created by one event."""

        @event("Passed")
        def __init__(self, learner_id: str, code: str, assessed_on: str) -> None:
            self.learner_id = learner_id
            self.code = code
            self.assessed_on = assessed_on

    return Pass


def _saves(app: Any, pass_class: Any, seconds: float, per_save: int) -> int:
    saved = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        aggregates = [
            pass_class(f"{200_000_000_000 + saved + n:012d}", "CNC-FUND", "2026-01-15")
            for n in range(per_save)
        ]
        app.save(*aggregates)
        saved += per_save
    return saved


def run(database_url: str, seconds: float) -> dict[str, float]:
    """Events per second of each scenario."""
    pass_class = _pass_class()
    _fresh_schema(database_url)
    app = _application(database_url, THREADS)
    try:
        _saves(app, pass_class, min(1.0, seconds), 1)  # connections and table warm
        results: dict[str, float] = {}
        started = time.perf_counter()
        results["serial"] = _saves(app, pass_class, seconds, 1) / (time.perf_counter() - started)
        counts = [0] * THREADS

        def worker(index: int) -> None:
            counts[index] = _saves(app, pass_class, seconds, 1)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results["threads16"] = sum(counts) / (time.perf_counter() - started)
        started = time.perf_counter()
        results["batch1000"] = _saves(app, pass_class, seconds, BATCH) / (
            time.perf_counter() - started
        )
        return results
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per scenario")
    args = parser.parse_args(argv)
    try:
        import eventsourcing  # noqa: F401
    except ImportError:
        print("eventsourcing is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 3
    sys.stdout.write(msgspec.json.encode(run(args.database_url, args.seconds)).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
