"""Fixtures shared by every test; see tests/support/servers.py for where servers come from."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings

from credit_ledger.migrations import migrate
from tests.support.issued import Issued, issued_credentials
from tests.support.servers import (
    TEMPLATE_DB,
    NatsHandle,
    forget_ledger_stream,
    nats_server,
    postgres_cluster,
    with_database,
)

# CI runs every property test the same way each time: derandomized (a fixed seed), no
# example database carried between runs, bounded in examples. Locally the tests' own
# settings apply, with the example database that replays earlier failures.
settings.register_profile("ci", derandomize=True, database=None, max_examples=100)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def cluster_url(workdir: Path) -> Iterator[str]:
    with postgres_cluster(workdir) as url:
        yield url


@pytest.fixture(scope="session")
async def template_database(cluster_url: str) -> str:
    """A migrated database that every test's database is cloned from (cheap isolation)."""
    admin = await asyncpg.connect(cluster_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(cluster_url, TEMPLATE_DB))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


@pytest.fixture
async def database_url(cluster_url: str, template_database: str) -> AsyncIterator[str]:
    async with cloned_database(cluster_url, template_database) as url:
        yield url


@pytest.fixture(scope="module")
async def module_database_url(cluster_url: str, template_database: str) -> AsyncIterator[str]:
    """One fresh database for all the tests of a module that read one system's state (a
    module fixture that issues credentials once, say)."""
    async with cloned_database(cluster_url, template_database) as url:
        yield url


@pytest.fixture
async def other_database_url(cluster_url: str, template_database: str) -> AsyncIterator[str]:
    """A second fresh database, for tests that compare two ledgers side by side."""
    async with cloned_database(cluster_url, template_database) as url:
        yield url


@contextlib.asynccontextmanager
async def cloned_database(cluster_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(cluster_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    try:
        yield with_database(cluster_url, name)
    finally:
        admin = await asyncpg.connect(cluster_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def nats(workdir: Path) -> AsyncIterator[NatsHandle]:
    with nats_server(workdir) as handle:
        if handle.embedded is None:
            await forget_ledger_stream(handle.url)
        yield handle


@pytest.fixture(scope="module")
async def module_nats(workdir: Path) -> AsyncIterator[NatsHandle]:
    """``nats``, for the tests of a module together (see ``module_database_url``)."""
    with nats_server(workdir) as handle:
        if handle.embedded is None:
            await forget_ledger_stream(handle.url)
        yield handle


@pytest.fixture(scope="module")
async def issued(
    module_database_url: str, module_nats: NatsHandle, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Issued]:
    """A running system with one valid and one revoked credential, shared by a module's
    page tests (they only read)."""
    keys = tmp_path_factory.mktemp("issuer-keys")
    async with issued_credentials(module_database_url, module_nats.url, keys) as found:
        yield found
