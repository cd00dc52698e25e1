"""NATS is the fast path, Postgres the truth (docs/architecture.md §4): events that JetStream lost are
read from the ledger's API, in the middle of the log and at its tail.

The loss is made deterministic by purging the LEDGER stream (its config allows a purge)
while the projector is stopped: its durable consumer then never receives those messages.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from proto.envelope import Role
from services.common.settings.projector import DEFAULT_PARTITIONS as PARTITIONS
from services.projector.app import PROJECTOR_ROLE
from services.projector.rebuild import rebuild
from tests.support.factories import ATI, NSTI
from tests.support.jetstream import purge_ledger_stream, relayed_up_to
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import metric_value, record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

MACHINIST = "310000000001"
APPRENTICE = "310000000002"
# An idle worker reads the ledger after its checkpoint every 0.5 s; allow for start-up.
TAIL_FOUND_WITHIN_S = 10.0


# The read model's json columns: the same document may be spelled differently by the
# paths an event comes by (a NATS message, a page of the log, its NDJSON stream).
JSON_COLUMNS = ("data", "summary", "decision")


async def read_model(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """The projector's copy of the log and its read model, row by row."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            table: [
                {k: json.loads(v) if k in JSON_COLUMNS else v for k, v in row.items()}
                for row in await conn.fetch(f"SELECT * FROM projector.{table} ORDER BY 1, 2")
            ]
            for table in ("events", "credit_banks", "progress")
        }
    finally:
        await conn.close()


async def rebuilt_read_model(ledger: Ledger, database_url: str) -> dict[str, list[dict[str, Any]]]:
    """The read model after a full rebuild from position 0 (the projector must be stopped)."""
    key = await ledger.key(Role.AUDITOR)
    await rebuild(
        database_url, ledger.base_url, key, PROJECTOR_ROLE, partitions=PARTITIONS, progress=False
    )
    return await read_model(database_url)


async def head_of(ledger: Ledger) -> int:
    return int((await ledger.get("/v1/head")).json()["position"])


async def test_events_lost_in_the_middle_of_the_stream_are_read_from_the_ledger(
    database_url: str, nats: NatsHandle
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        async with running_projector(ledger, database_url, nats.url) as projector:
            await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
            await record_pass(ledger, MACHINIST, NSTI, "CNC-PROG", "2026-03-20")
            await projector.caught_up()

        # The projector is stopped; these reach JetStream and are then purged from it.
        await record_pass(ledger, MACHINIST, ATI, "CNC-ADV", "2026-05-10")
        await record_pass(ledger, APPRENTICE, NSTI, "CNC-FUND", "2026-05-11")
        await record_pass(ledger, MACHINIST, ATI, "CNC-MAINT", "2026-07-05")
        lost = 3
        await relayed_up_to(nats.url, await head_of(ledger))
        await purge_ledger_stream(nats.url)
        # These arrive over NATS after the hole.
        await record_pass(ledger, MACHINIST, ATI, "CNC-QC", "2026-09-01")
        await record_pass(ledger, APPRENTICE, NSTI, "CNC-PROG", "2026-09-02")
        head = await head_of(ledger)
        await relayed_up_to(nats.url, head)

        async with running_projector(ledger, database_url, nats.url) as projector:
            assert await projector.caught_up(timeout_s=TAIL_FOUND_WITHIN_S) == head
            assert await metric_value(projector, "projector_events_gap_filled_total") == lost
            assert (await projector.progress(MACHINIST, "ADV-CNC-MACHINING"))["satisfied"] is True
            apprentice = (await projector.bank(APPRENTICE))["credit_bank"]
            assert apprentice["total_hours"] == 150
        gapped = await read_model(database_url)

        assert [e["position"] for e in gapped["events"]] == list(range(1, head + 1))
        assert gapped == await rebuilt_read_model(ledger, database_url)


async def test_events_lost_at_the_tail_are_found_by_the_idle_head_check(
    database_url: str, nats: NatsHandle
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        async with running_projector(ledger, database_url, nats.url) as projector:
            await record_pass(ledger, MACHINIST, NSTI, "CNC-FUND", "2026-01-15")
            await projector.caught_up()

        await record_pass(ledger, MACHINIST, NSTI, "CNC-PROG", "2026-03-20")
        await record_pass(ledger, MACHINIST, ATI, "CNC-ADV", "2026-05-10")
        head = await head_of(ledger)
        await relayed_up_to(nats.url, head)
        await purge_ledger_stream(nats.url)

        async with running_projector(ledger, database_url, nats.url) as projector:
            assert await projector.caught_up(timeout_s=TAIL_FOUND_WITHIN_S) == head
            assert await metric_value(projector, "projector_events_gap_filled_total") == 2
            bank = (await projector.bank(MACHINIST))["credit_bank"]
            assert bank["total_hours"] == 240
        gapped = await read_model(database_url)

        assert gapped == await rebuilt_read_model(ledger, database_url)
