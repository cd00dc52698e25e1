"""Many writers at once: a gap-free, commit-ordered, hash-chained log (docs/architecture.md §3)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest

from tests.support.chain import first_mismatch
from tests.support.factories import ATI, NSTI, assessment_passed
from tests.support.ledger import Ledger, running_ledger
from tests.support.servers import NatsHandle
from tests.support.tail import positions_of, read_jetstream, tail_http

pytestmark = pytest.mark.integration

WRITERS = 24
EVENTS_PER_WRITER = 25
LEARNERS = [f"9000000000{n:02d}" for n in range(12)]
CODES = ["CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC"]


async def _writer(ledger: Ledger, writer: int) -> list[int]:
    positions = []
    learners = itertools.cycle(LEARNERS[writer % 3 :])
    for n in range(EVENTS_PER_WRITER):
        institution = NSTI if writer % 2 else ATI
        event = assessment_passed(
            assessment_id=f"W{writer}-{n}",
            learner_id=next(learners),
            institution_id=institution,
            code=CODES[n % len(CODES)],
        )
        response = await ledger.append(event, institution)
        assert response.status_code == 201, response.text
        positions.append(response.json()["position"])
    return positions


async def _read_all(ledger: Ledger) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    after = 0
    while True:
        page = (await ledger.get("/v1/log", after_position=after, limit=1000)).json()
        if not page["events"]:
            return events
        events.extend(page["events"])
        after = page["next_after_position"]


async def test_concurrent_writers_get_gap_free_positions_and_a_valid_chain(
    database_url: str, nats: NatsHandle
) -> None:
    async with running_ledger(database_url, nats.url) as ledger:
        stop = asyncio.Event()
        tail = asyncio.create_task(tail_http(ledger, stop))
        results = await asyncio.gather(*(_writer(ledger, w) for w in range(WRITERS)))
        stop.set()
        tailed = await tail

        appended = sorted(p for positions in results for p in positions)
        events = await _read_all(ledger)
        total = len(events)
        assert total == 28 + WRITERS * EVENTS_PER_WRITER
        assert [e["position"] for e in events] == list(range(1, total + 1))
        assert appended == list(range(29, total + 1))
        assert first_mismatch(events) is None

        versions: dict[str, list[int]] = defaultdict(list)
        for event in events:
            versions[str(event["stream"])].append(int(str(event["stream_version"])))
        for stream, seen in versions.items():
            assert seen == list(range(1, len(seen) + 1)), stream

        # A reader that trusts "next = last + 1" saw every event exactly once, in order.
        assert tailed == list(range(1, total + 1))

        # So did a JetStream subscriber, through the relay.
        messages = await read_jetstream(nats.url, total)
        assert positions_of(messages) == list(range(1, total + 1))
