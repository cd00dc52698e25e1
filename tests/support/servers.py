"""PostgreSQL and NATS for the tests: from the environment, from testcontainers, or embedded.

Order (docs/architecture.md §7): DATABASE_URL / NATS_URL when set; testcontainers when
CREDIT_LEDGER_TEST_CONTAINERS=1 and a Docker engine answers; otherwise the embedded
servers from the wheels. Every test gets its own database, cloned from a migrated template,
and (embedded) its own nats-server, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from credit_ledger.embedded.nats import EmbeddedNats
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.embedded.processes import free_port

# One template per pytest-xdist worker: workers sharing a DATABASE_URL cluster must not
# drop each other's template.
TEMPLATE_DB = f"credit_ledger_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def postgres_cluster(workdir: Path) -> Iterator[str]:
    """An admin URL of a PostgreSQL cluster the tests may create databases in."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if os.environ.get("CREDIT_LEDGER_TEST_CONTAINERS") == "1" and _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as container:
            yield container.get_connection_url()
        return
    # fsync off: the tests check behaviour, not durability; the benchmark runs with fsync on.
    server = EmbeddedPostgres(workdir / "postgres", fsync=False)
    server.start()
    try:
        yield server.url
    finally:
        server.destroy()


class NatsHandle:
    """One NATS server for one test; embedded ones can be stopped and started again."""

    def __init__(self, url: str, embedded: EmbeddedNats | None) -> None:
        self.url = url
        self.embedded = embedded

    def stop(self) -> None:
        if self.embedded is None:
            raise RuntimeError("only an embedded nats-server can be stopped by a test")
        self.embedded.stop()

    def start(self) -> None:
        if self.embedded is None:
            raise RuntimeError("only an embedded nats-server can be started by a test")
        self.embedded.start()


@contextlib.contextmanager
def nats_server(workdir: Path) -> Iterator[NatsHandle]:
    if os.environ.get("NATS_URL"):
        yield NatsHandle(os.environ["NATS_URL"], None)
        return
    server = EmbeddedNats(workdir / f"nats-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield NatsHandle(server.url, server)
    finally:
        server.destroy()


async def forget_ledger_stream(url: str) -> None:
    """A shared (external) NATS keeps streams between tests: start each test without one."""
    import nats as nats_client
    from nats.js.errors import NotFoundError

    from proto.subjects import LEDGER_STREAM

    nc = await nats_client.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(LEDGER_STREAM)
    finally:
        await nc.close()


def dev_stack_ports() -> dict[str, str]:
    """A free port for each service of `credit-ledger dev`. Its defaults (the ledger's port
    + 1 and + 2) may be taken by a server another test worker started meanwhile."""
    return {
        "CREDIT_LEDGER_HTTP_PORT": str(free_port()),
        "CREDIT_LEDGER_PROJECTOR_PORT": str(free_port()),
        "CREDIT_LEDGER_ISSUER_PORT": str(free_port()),
    }
