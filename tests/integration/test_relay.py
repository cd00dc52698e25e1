"""The relay: every event reaches JetStream once, in order, as a CloudEvent (docs/architecture.md §4)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import nats as nats_lib
import pytest

from tests.support.factories import NSTI, assessment_passed
from tests.support.jetstream import purge_ledger_stream, relayed_up_to
from tests.support.ledger import running_ledger
from tests.support.servers import NatsHandle, forget_ledger_stream
from tests.support.tail import header_map, positions_of, read_jetstream

pytestmark = pytest.mark.integration

CATALOG_EVENTS = 28


async def test_events_arrive_as_cloudevents_with_ledger_headers(
    database_url: str, nats: NatsHandle
) -> None:
    async with running_ledger(database_url, nats.url) as ledger:
        appended = (await ledger.append(assessment_passed(assessment_id="CE-1"), NSTI)).json()
        messages = await read_jetstream(nats.url, CATALOG_EVENTS + 1)
        last = messages[-1]
        headers = header_map(last)
        # The learner's bucket (proto.partitions) comes before the learner id.
        assert last.subject == "ledger.v1.learner.167.123456789012.AssessmentPassed"
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-id"] == appended["event_id"]
        assert headers["Nats-Msg-Id"] == appended["event_id"]
        assert headers["ce-type"] == "org.credit-ledger.ledger.AssessmentPassed.v1"
        assert headers["ce-subject"] == "learner-123456789012"
        assert headers["ce-source"] == "urn:credit-ledger:ledger"
        assert headers["content-type"] == "application/json"
        assert headers["Ledger-Position"] == str(appended["position"])
        assert headers["Ledger-Hash"] == appended["hash"]
        assert json.loads(last.data)["assessment_id"] == "CE-1"


async def test_events_appended_while_nats_is_down_arrive_once_in_order(
    database_url: str, nats: NatsHandle
) -> None:
    async with running_ledger(database_url, nats.url) as ledger:
        await ledger.append(assessment_passed(), NSTI)
        assert len(await read_jetstream(nats.url, CATALOG_EVENTS + 1)) == CATALOG_EVENTS + 1
        nats.stop()
        for n in range(20):
            response = await ledger.append(assessment_passed(assessment_id=f"DOWN-{n}"), NSTI)
            assert response.status_code == 201  # NATS being down never blocks an append
        await asyncio.sleep(1.0)
        nats.start()
        total = CATALOG_EVENTS + 21
        messages = await read_jetstream(nats.url, total, timeout_s=60)
        assert positions_of(messages) == list(range(1, total + 1))


async def test_a_restarted_relay_resumes_without_republishing(
    database_url: str, nats: NatsHandle
) -> None:
    async with running_ledger(database_url, nats.url) as ledger:
        await ledger.append(assessment_passed(), NSTI)
        assert len(await read_jetstream(nats.url, CATALOG_EVENTS + 1)) == CATALOG_EVENTS + 1
    async with running_ledger(database_url, nats.url, catalog=False) as ledger:
        await ledger.append(assessment_passed(), NSTI)
        total = CATALOG_EVENTS + 2
        messages = await read_jetstream(nats.url, total + 1, timeout_s=3)
        assert positions_of(messages) == list(range(1, total + 1))


async def test_only_one_relay_publishes_at_a_time(database_url: str, nats: NatsHandle) -> None:
    async with (
        running_ledger(database_url, nats.url) as first,
        running_ledger(database_url, nats.url, catalog=False) as second,
    ):
        for n in range(10):
            writer = first if n % 2 else second
            await writer.append(assessment_passed(assessment_id=f"TWO-{n}"), NSTI)
        total = CATALOG_EVENTS + 10
        messages = await read_jetstream(nats.url, total + 1, timeout_s=3)
        assert positions_of(messages) == list(range(1, total + 1))
        leaders = [
            (await ledger.client.get("/ready")).json()["relay_leader"] for ledger in (first, second)
        ]
        assert sorted(leaders) == [False, True]


async def test_a_batch_lands_whole_and_carries_the_order_guard(
    database_url: str, nats: NatsHandle
) -> None:
    async with running_ledger(database_url, nats.url) as ledger:
        messages = await read_jetstream(nats.url, CATALOG_EVENTS)
        first, last = header_map(messages[0]), header_map(messages[-1])
        # The catalog is one append, so it reaches the stream as one atomic batch.
        assert first["Nats-Expected-Last-Sequence"] == "0"
        assert last["Nats-Batch-Commit"] == "1"
        assert {header_map(m)["Nats-Batch-Id"] for m in messages} == {first["Nats-Batch-Id"]}
        assert [int(header_map(m)["Nats-Batch-Sequence"]) for m in messages] == list(
            range(1, CATALOG_EVENTS + 1)
        )
        await ledger.append(assessment_passed(assessment_id="NEXT-1"), NSTI)
        later = await read_jetstream(nats.url, CATALOG_EVENTS + 1)
        assert header_map(later[-1])["Nats-Expected-Last-Sequence"] == str(CATALOG_EVENTS)


async def test_a_foreign_message_in_the_stream_stops_the_relay_from_publishing_past_it(
    database_url: str, nats: NatsHandle
) -> None:
    """Another publisher in LEDGER moves the stream's sequence, so the relay's next batch is
    refused (its expected last sequence no longer holds) rather than landing beside it."""
    async with running_ledger(database_url, nats.url) as ledger:
        assert len(await read_jetstream(nats.url, CATALOG_EVENTS)) == CATALOG_EVENTS
        nc = await nats_lib.connect(nats.url)
        try:
            await nc.jetstream().publish("ledger.v1.institution.X.Foreign", b"{}")
        finally:
            await nc.close()
        await ledger.append(assessment_passed(assessment_id="AFTER-FOREIGN"), NSTI)
        messages = await read_jetstream(nats.url, CATALOG_EVENTS + 2, timeout_s=3)
        assert len(messages) == CATALOG_EVENTS + 1  # the catalog and the foreign message


async def test_a_relay_restarted_on_an_emptied_stream_sends_nothing_it_took_already(
    database_url: str, nats: NatsHandle
) -> None:
    """The saved progress may be up to a second old. Events the stream took since then are
    still in its de-duplication window, where JetStream would refuse a whole batch holding
    one of them: the relay gets past them one at a time and carries on in batches."""
    async with running_ledger(database_url, nats.url) as ledger:
        for n in range(5):
            await ledger.append(assessment_passed(assessment_id=f"BEFORE-{n}"), NSTI)
        await relayed_up_to(nats.url, CATALOG_EVENTS + 5)
    await purge_ledger_stream(nats.url)
    connection = await asyncpg.connect(database_url)
    try:  # as if the relay had stopped before saving its last second's progress
        await connection.execute("UPDATE ledger.relay_progress SET position = $1", CATALOG_EVENTS)
    finally:
        await connection.close()
    async with running_ledger(database_url, nats.url, catalog=False) as ledger:
        for n in range(3):
            await ledger.append(assessment_passed(assessment_id=f"AFTER-{n}"), NSTI)
        total = CATALOG_EVENTS + 8
        await relayed_up_to(nats.url, total)
        messages = await read_jetstream(nats.url, 4, timeout_s=3)
        assert positions_of(messages) == [total - 2, total - 1, total]


async def test_a_stream_lost_with_its_server_gets_the_whole_log_again(
    database_url: str, nats: NatsHandle
) -> None:
    """A new, empty stream never held anything: the saved progress does not apply to it."""
    async with running_ledger(database_url, nats.url) as ledger:
        await ledger.append(assessment_passed(assessment_id="BEFORE-LOSS"), NSTI)
        await relayed_up_to(nats.url, CATALOG_EVENTS + 1)
    await forget_ledger_stream(nats.url)
    async with running_ledger(database_url, nats.url, catalog=False) as ledger:
        await ledger.append(assessment_passed(assessment_id="AFTER-LOSS"), NSTI)
        total = CATALOG_EVENTS + 2
        messages = await read_jetstream(nats.url, total + 1, timeout_s=3)
        assert positions_of(messages) == list(range(1, total + 1))
