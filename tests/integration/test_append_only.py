"""The database itself keeps the log append-only (docs/architecture.md §3)."""

from __future__ import annotations

import asyncpg
import pytest

from services.common.db import APP_ROLE
from tests.support.factories import NSTI, assessment_passed
from tests.support.ledger import running_ledger

pytestmark = pytest.mark.integration

STATEMENTS = [
    "UPDATE ledger.events SET type = 'Tampered' WHERE position = 1",
    "DELETE FROM ledger.events WHERE position = 1",
    "TRUNCATE ledger.events",
]


@pytest.mark.parametrize("statement", STATEMENTS, ids=["update", "delete", "truncate"])
async def test_the_application_role_cannot_rewrite_the_log(
    database_url: str, statement: str
) -> None:
    async with running_ledger(database_url) as ledger:
        await ledger.append(assessment_passed(), NSTI)
    conn = await asyncpg.connect(database_url, server_settings={"role": APP_ROLE})
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM ledger.events") == 29
    finally:
        await conn.close()


@pytest.mark.parametrize("statement", STATEMENTS, ids=["update", "delete", "truncate"])
async def test_even_the_owner_is_stopped_by_the_trigger(database_url: str, statement: str) -> None:
    async with running_ledger(database_url):
        pass
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM ledger.events") == 28
    finally:
        await conn.close()
