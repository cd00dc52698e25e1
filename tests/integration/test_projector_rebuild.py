"""A rebuild is one transaction: what it makes is the live read model, and one that fails
leaves the read model as it was."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from proto.envelope import Role
from proto.partitions import all_partitions
from services.common.settings.projector import DEFAULT_PARTITIONS as PARTITIONS
from services.projector import rebuild_learners
from services.projector.app import PROJECTOR_ROLE
from services.projector.rebuild import ProjectorRunning, RebuildSpec, rebuild, rebuild_partition
from tests.support.factories import NSTI
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

MACHINIST = "320000000001"
TECHNICIAN = "320000000002"


async def read_model(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            "checkpoint": await conn.fetchval(
                "SELECT coalesce(min(position), 0) FROM projector.checkpoints"
            ),
            **{
                table: [
                    dict(r)
                    for r in await conn.fetch(f"SELECT * FROM projector.{table} ORDER BY 1, 2")
                ]
                for table in ("events", "credit_banks", "progress", "thresholds")
            },
        }
    finally:
        await conn.close()


async def rebuild_all(ledger: Ledger, database_url: str) -> int:
    """Every partition, a process each, as ``credit-ledger projector rebuild`` does."""
    key = await ledger.key(Role.AUDITOR)
    return await rebuild(
        database_url, ledger.base_url, key, PROJECTOR_ROLE, partitions=PARTITIONS, progress=False
    )


async def head_of(ledger: Ledger) -> int:
    return int((await ledger.get("/v1/head")).json()["position"])


async def test_a_rebuild_gives_the_live_model_and_a_failed_one_changes_nothing(
    database_url: str, nats: NatsHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        async with running_projector(ledger, database_url, nats.url) as projector:
            for code, day in (("CNC-FUND", "2026-01-15"), ("CNC-PROG", "2026-02-10")):
                await record_pass(ledger, MACHINIST, NSTI, code, day)
            await record_pass(ledger, TECHNICIAN, NSTI, "CNC-FUND", "2026-03-01")
            await projector.caught_up()
            key = await ledger.key(Role.AUDITOR)
            # The live projector leads: a rebuild beside it is refused.
            with pytest.raises(ProjectorRunning):
                await rebuild_all(ledger, database_url)
        live = await read_model(database_url)
        assert live["credit_banks"]
        assert live["progress"]

        def broken(*_args: Any) -> None:
            raise RuntimeError("the machine lost power mid-rebuild")

        # A partition's rebuild in this process (the whole rebuild runs each in a process
        # of its own, which a patch here would not reach).
        spec = RebuildSpec(database_url, ledger.base_url, key, PROJECTOR_ROLE, progress=False)
        with monkeypatch.context() as patch:
            # Mid-fold: the log is copied, the reader of phase 2 is running.
            patch.setattr(rebuild_learners, "_render", broken)
            for partition in all_partitions(PARTITIONS):
                with pytest.raises(RuntimeError, match="lost power"):
                    await rebuild_partition(spec, partition)
        assert await read_model(database_url) == live

        reached = await rebuild_all(ledger, database_url)
        # Each partition's checkpoint is now the head; the rows are the live ones.
        assert reached == await head_of(ledger)
        assert {**await read_model(database_url), "checkpoint": None} == {
            **live,
            "checkpoint": None,
        }


async def test_a_bank_stored_before_snapshots_is_folded_from_its_history(
    database_url: str, nats: NatsHandle
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        async with running_projector(ledger, database_url, nats.url) as projector:
            await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
            await projector.caught_up()
        conn = await asyncpg.connect(database_url)
        try:  # as a row written before projector migration 0002 reads
            await conn.execute("UPDATE projector.credit_banks SET snapshot = NULL")
        finally:
            await conn.close()
        async with running_projector(ledger, database_url, nats.url) as projector:
            await record_pass(ledger, MACHINIST, NSTI, "CNC-PROG", "2026-02-10")
            await projector.caught_up()
        live = await read_model(database_url)
        await rebuild_all(ledger, database_url)
        assert await read_model(database_url) == live
        assert all(row["snapshot"] is not None for row in live["credit_banks"])
