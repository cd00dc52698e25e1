"""Tamper detection end to end: a database superuser rewrites one old event behind the
trigger's back. ``audit verify`` names it, its inclusion proof fails against the head signed
before, and the tree rebuilt from the rewritten log is inconsistent with that head."""

from __future__ import annotations

import asyncio
import time
from io import StringIO
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from structlog.testing import capture_logs

from credit_ledger.audit_cli import (
    check_consistency_command,
    check_inclusion_command,
    rebuild_tree_command,
    verify_command,
    verify_database_command,
)
from proto.envelope import Role
from services.ledger.audit.node_store import reset_tree
from services.ledger.audit.signing import create_key_file
from tests.support.factories import NSTI, assessment_passed
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

TARGET = 30  # the second pass after the 28 catalog events


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "tree-signing-key.pem"
    create_key_file(path)
    return path


async def fill(ledger: Ledger, passes: int) -> None:
    for day in range(1, passes + 1):
        passed = assessment_passed(assessed_on=f"2025-02-{day:02d}")
        assert (await ledger.append(passed, NSTI)).status_code == 201


async def rewrite_event(database_url: str, position: int) -> None:
    """What an attacker with the database's superuser could do: edit behind the trigger."""
    conn = await asyncpg.connect(database_url)  # the test cluster's URL is a superuser
    try:
        async with conn.transaction():
            await conn.execute(
                "ALTER TABLE ledger.events DISABLE TRIGGER events_refuse_update_delete"
            )
            status = await conn.execute(
                "UPDATE ledger.events SET data = jsonb_set(data, '{assessed_on}', '\"2019-02-02\"')"
                " WHERE position = $1",
                position,
            )
            await conn.execute(
                "ALTER TABLE ledger.events ENABLE TRIGGER events_refuse_update_delete"
            )
        assert status == "UPDATE 1"
    finally:
        await conn.close()


async def fetch(ledger: Ledger, path: str, **params: Any) -> bytes:
    response = await ledger.get(path, Role.AUDITOR, **params)
    assert response.status_code == 200, response.text
    return response.content


async def post_head(ledger: Ledger) -> bytes:
    response = await ledger.post("/v1/audit/tree-heads", None, Role.AUDITOR)
    assert response.status_code == 201, response.text
    return response.content


async def event_at(ledger: Ledger, position: int) -> dict[str, Any]:
    page = msgspec.json.decode(await fetch(ledger, "/v1/log", after_position=position - 1, limit=1))
    event: dict[str, Any] = page["events"][0]
    return event


def save(directory: Path, name: str, content: bytes | dict[str, Any]) -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else msgspec.json.encode(content))
    return path


async def test_a_rewritten_event_is_named_and_breaks_the_heads_signed_before(
    database_url: str, key_file: Path, tmp_path: Path
) -> None:
    async with running_ledger(
        database_url, CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file)
    ) as ledger:
        await fill(ledger, 6)
        # What an auditor keeps from before the edit: a signed head and the keys.
        old_head = save(tmp_path, "old_head.json", await post_head(ledger))
        size = msgspec.json.decode(old_head.read_bytes())["tree_size"]
        jwks = save(tmp_path, "jwks.json", (await ledger.client.get("/v1/audit/keys")).content)
        previous_hash = (await event_at(ledger, TARGET - 1))["hash"]
        proof = save(
            tmp_path,
            "proof.json",
            await fetch(ledger, "/v1/audit/proofs/inclusion", position=TARGET, tree_size=size),
        )
        original = save(tmp_path, "original.json", await event_at(ledger, TARGET))
        assert (
            check_inclusion_command(old_head, proof, original, previous_hash, jwks, StringIO()) == 0
        )
        assert await verify_database_command(database_url, StringIO()) == 0

        await rewrite_event(database_url, TARGET)

        # 1. The chain no longer holds from the rewritten event on: verify names it.
        out = StringIO()
        assert await verify_database_command(database_url, out) == 1
        assert f"MISMATCH at position {TARGET}:" in out.getvalue()
        assert "this event's content or hash was changed" in out.getvalue()
        export = save(tmp_path, "export.ndjson", await fetch(ledger, "/v1/log/ndjson"))
        out = StringIO()
        assert verify_command(None, export, out) == 1
        assert f"MISMATCH at position {TARGET}:" in out.getvalue()

        # 2. The event as it now reads is not the leaf the old head committed to.
        edited = save(tmp_path, "edited.json", await event_at(ledger, TARGET))
        out = StringIO()
        assert check_inclusion_command(old_head, proof, edited, previous_hash, jwks, out) == 1
        assert "not the leaf the log committed to" in out.getvalue()

        # 3. A tree rebuilt from the rewritten log does not extend the old head.
        out = StringIO()
        assert await rebuild_tree_command(database_url, out) == 0
        assert f"chain mismatch from position {TARGET}" in out.getvalue()
        new_head = save(tmp_path, "new_head.json", await post_head(ledger))
        new_size = msgspec.json.decode(new_head.read_bytes())["tree_size"]
        assert new_size == size
        consistency = save(
            tmp_path,
            "consistency.json",
            await fetch(ledger, "/v1/audit/proofs/consistency", from_size=size, to_size=new_size),
        )
        out = StringIO()
        assert check_consistency_command(old_head, new_head, consistency, jwks, out) == 1
        assert "does not extend" in out.getvalue()


async def test_the_tree_builder_reports_the_rewrite_when_it_recomputes_the_tree(
    database_url: str, key_file: Path, tmp_path: Path
) -> None:
    async with running_ledger(
        database_url, CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file)
    ) as ledger:
        await fill(ledger, 3)
        old_head = msgspec.json.decode(await post_head(ledger))
        await rewrite_event(database_url, TARGET)
        owner = await asyncpg.connect(database_url)
        try:
            await reset_tree(owner)  # as the owner: forget the tree, let the builder redo it
        finally:
            await owner.close()
        with capture_logs() as logs:
            await fill(ledger, 1)  # its NOTIFY wakes the builder
            new_head = msgspec.json.decode(await post_head(ledger))
            deadline = time.monotonic() + 5
            while not [entry for entry in logs if entry["event"] == "chain_mismatch"]:
                assert time.monotonic() < deadline, logs
                await asyncio.sleep(0.02)
        mismatch = next(entry for entry in logs if entry["event"] == "chain_mismatch")
        assert mismatch["log_level"] == "error"
        assert mismatch["position"] == TARGET
        assert mismatch["edited_positions"] == [TARGET]
        metrics = (await ledger.client.get("/metrics")).text
        diverged = new_head["tree_size"] - TARGET + 1
        assert f"ledger_audit_chain_mismatches_total {float(diverged)}" in metrics
        proof = msgspec.json.decode(
            await fetch(
                ledger,
                "/v1/audit/proofs/consistency",
                from_size=old_head["tree_size"],
                to_size=new_head["tree_size"],
            )
        )
        assert proof["from_root"] != old_head["root_hash"]
