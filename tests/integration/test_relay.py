"""The relay: every event reaches JetStream once, in order, as a CloudEvent (docs/architecture.md §4)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.factories import NSTI, assessment_passed
from tests.support.ledger import running_ledger
from tests.support.servers import NatsHandle
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
