"""``audit verify`` recomputes the chain the ledger wrote, from the database and from an export,
whatever the events hold; a deleted event is named as missing."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import asyncpg
import pytest

from credit_ledger.audit_cli import verify_command, verify_database_command
from proto.envelope import Role
from services.common import db
from services.ledger.audit.verify import verify_database
from tests.support.factories import NSTI, assessment_passed, assessment_revoked
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

AWKWARD_REASONS = [
    'found "copied" answers \\ see C:\\exam\\2026',
    "line one\nline two\ttabbed\r\n",
    "देवनागरी — émigré 🎓 \u2028",
    "\x01\x1f control characters",
]


async def record_awkward_events(ledger: Ledger) -> None:
    for reason in AWKWARD_REASONS:
        passed = assessment_passed()
        assert (await ledger.append(passed, NSTI)).status_code == 201
        revoked = {**assessment_revoked(assessment_id=passed["assessment_id"]), "reason": reason}
        response = await ledger.append(revoked, NSTI)
        assert response.status_code == 201, response.text


async def test_the_ledgers_chain_verifies_from_the_database_and_from_an_export(
    database_url: str, tmp_path: Path
) -> None:
    async with running_ledger(database_url) as ledger:
        await record_awkward_events(ledger)
        head = (await ledger.get("/v1/head", Role.AUDITOR)).json()
        out = StringIO()
        assert await verify_database_command(database_url, out) == 0
        assert out.getvalue().startswith(
            f"ok: {head['position']} events, the chain holds; head position {head['position']} "
            f"hash {head['hash']}"
        )
        export = tmp_path / "export.ndjson"
        export.write_bytes((await ledger.get("/v1/log/ndjson", Role.AUDITOR)).content)
        out = StringIO()
        assert verify_command(None, export, out) == 0
        assert f"hash {head['hash']}" in out.getvalue()


async def test_verification_reads_the_log_in_windows(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await record_awkward_events(ledger)
        conn = await db.connect(database_url)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                progress: list[int] = []
                result = await verify_database(conn, progress=progress.append, window_events=3)
        finally:
            await conn.close()
        assert result.ok
        assert result.matched == sum(progress) == 28 + 2 * len(AWKWARD_REASONS)


async def test_a_deleted_event_is_named_as_missing(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        await record_awkward_events(ledger)
    superuser = await asyncpg.connect(database_url)
    try:
        async with superuser.transaction():
            await superuser.execute(
                "ALTER TABLE ledger.events DISABLE TRIGGER events_refuse_update_delete"
            )
            await superuser.execute("DELETE FROM ledger.events WHERE position = 31")
            await superuser.execute(
                "ALTER TABLE ledger.events ENABLE TRIGGER events_refuse_update_delete"
            )
    finally:
        await superuser.close()
    out = StringIO()
    assert await verify_database_command(database_url, out) == 1
    assert "MISMATCH at position 31: position 31 is missing" in out.getvalue()
    assert "positions 1..30 verified" in out.getvalue()
