"""Reading one partition of the log: GET /v1/log and /v1/log/ndjson with partition & of,
and the client's reads of a partition (proto/partitions.py, docs/architecture.md §3)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proto.envelope import Role
from proto.partitions import Partition, all_partitions, learner_bucket, partition_of
from services.common import ledger_client
from services.common.ledger_client import LedgerClient, LedgerError
from tests.integration.test_bad_input import refused
from tests.support.factories import NSTI, assessment_passed, assessment_revoked
from tests.support.ledger import Ledger, running_ledger, served_ledger

pytestmark = pytest.mark.integration

CATALOG_EVENTS = 28
COUNTS = (1, 2, 3, 6, 256)


def _learners_in_distinct_buckets_mod(modulus: int) -> list[str]:
    """One learner for each residue of bucket % modulus, so every partition of 2, 3 or 6 has
    learners of its own."""
    found: dict[int, str] = {}
    for n in itertools.count():
        learner = f"3000000{n:05d}"
        found.setdefault(learner_bucket(learner) % modulus, learner)
        if len(found) == modulus:
            return [found[r] for r in range(modulus)]
    raise AssertionError("unreachable")


LEARNERS = _learners_in_distinct_buckets_mod(6)


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    """A ledger with two passes of each learner (one revoked), after the catalog."""
    async with running_ledger(database_url) as running:
        for learner in LEARNERS:
            for code in ("CNC-FUND", "CNC-PROG"):
                body = assessment_passed(learner_id=learner, code=code)
                response = await running.append(body, NSTI)
                assert response.status_code == 201, response.text
            revocation = assessment_revoked(assessment_id=body["assessment_id"], learner_id=learner)
            response = await running.append(revocation, NSTI)
            assert response.status_code == 201, response.text
        yield running


async def whole_log(ledger: Ledger) -> list[dict[str, Any]]:
    page = (await ledger.get("/v1/log", limit=1000)).json()
    assert page["next_after_position"] == page["head_position"]
    events: list[dict[str, Any]] = page["events"]
    return events


def holds(partition: Partition, event: dict[str, Any]) -> bool:
    stream: str = event["stream"]
    if not stream.startswith("learner-"):
        return True
    return partition_of(stream.removeprefix("learner-"), partition.count) == partition


async def partition_page(ledger: Ledger, partition: Partition, **params: Any) -> dict[str, Any]:
    response = await ledger.get("/v1/log", partition=partition.index, of=partition.count, **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_the_partitions_of_n_together_are_the_whole_log(ledger: Ledger) -> None:
    log = await whole_log(ledger)
    assert len(log) == CATALOG_EVENTS + 3 * len(LEARNERS)
    for count in COUNTS:
        seen: dict[int, int] = {}
        for partition in all_partitions(count):
            page = await partition_page(ledger, partition, limit=1000)
            positions = [e["position"] for e in page["events"]]
            assert positions == sorted(positions)
            assert positions == [e["position"] for e in log if holds(partition, e)]
            assert page["next_after_position"] == page["head_position"] == log[-1]["position"]
            for position in positions:
                seen[position] = seen.get(position, 0) + 1
        for event in log:
            learner_event = event["stream"].startswith("learner-")
            # A learner's event is in exactly one partition; the catalog's in every one.
            assert seen[event["position"]] == (1 if learner_event else count), (count, event)


async def test_the_ndjson_log_of_a_partition_is_that_partitions_events(ledger: Ledger) -> None:
    log = await whole_log(ledger)
    for count in (2, 3):
        union: list[int] = []
        for partition in all_partitions(count):
            response = await ledger.get(
                "/v1/log/ndjson", partition=partition.index, of=partition.count
            )
            assert response.status_code == 200, response.text
            lines = [json.loads(line) for line in response.text.splitlines()]
            assert lines == [e for e in log if holds(partition, e)]
            union.extend(e["position"] for e in lines if e["stream"].startswith("learner-"))
        assert sorted(union) == [e["position"] for e in log if e["stream"].startswith("learner-")]

    bounded = await ledger.get(
        "/v1/log/ndjson", partition=1, of=2, after_position=CATALOG_EVENTS, to_position=40
    )
    expected = [
        e["position"]
        for e in log
        if CATALOG_EVENTS < e["position"] <= 40 and holds(Partition(1, 2), e)
    ]
    assert [json.loads(line)["position"] for line in bounded.text.splitlines()] == expected


async def test_a_partitions_pages_are_watermarks_up_to_the_head(ledger: Ledger) -> None:
    """Each page says: nothing of the partition lies between after_position and
    next_after_position but the page's events; a short page ends at the head."""
    log = await whole_log(ledger)
    head = log[-1]["position"]
    partition = Partition(1, 3)
    mine = [e for e in log if holds(partition, e)]
    after, read = 0, []
    while True:
        page = await partition_page(ledger, partition, after_position=after, limit=4)
        assert page["head_position"] == head
        between = [e for e in mine if after < e["position"] <= page["next_after_position"]]
        assert page["events"] == between
        read.extend(page["events"])
        if len(page["events"]) < 4:
            assert page["next_after_position"] == head
            break
        assert page["next_after_position"] == page["events"][-1]["position"]
        after = page["next_after_position"]
    assert read == mine

    past_the_head = await partition_page(ledger, partition, after_position=head + 5)
    assert past_the_head["events"] == []
    assert past_the_head["next_after_position"] == head + 5


async def test_types_and_a_partition_filter_together(ledger: Ledger) -> None:
    log = await whole_log(ledger)
    partition = Partition(0, 2)
    types = ["AssessmentRevoked", "InstitutionRegistered"]
    page = await partition_page(ledger, partition, type=types, limit=1000)
    expected = [e for e in log if e["type"] in types and holds(partition, e)]
    assert page["events"] == expected
    assert any(e["type"] == "AssessmentRevoked" for e in expected)
    assert any(e["type"] == "InstitutionRegistered" for e in expected)
    assert page["next_after_position"] == page["head_position"]


BAD_PARTITIONS: list[tuple[dict[str, Any], str]] = [
    ({"partition": 0}, "bad_partition"),
    ({"of": 2}, "bad_partition"),
    ({"partition": 0, "of": 0}, "bad_partition"),
    ({"partition": 0, "of": 257}, "bad_partition"),
    ({"partition": 2, "of": 2}, "bad_partition"),
    ({"partition": 300, "of": 256}, "bad_partition"),
    ({"partition": -1, "of": 2}, "bad_partition"),
    ({"partition": 0, "of": -2}, "bad_partition"),
    ({"partition": "one", "of": 2}, "invalid_parameter"),
    ({"partition": 0, "of": "2.5"}, "invalid_parameter"),
]


@pytest.mark.parametrize("path", ["/v1/log", "/v1/log/ndjson"])
async def test_a_bad_partition_is_refused(database_url: str, path: str) -> None:
    async with running_ledger(database_url) as ledger:
        for params, code in BAD_PARTITIONS:
            problem = await refused(ledger, ledger.get(path, **params), 422, code)
            assert problem["detail"], problem
            if code == "bad_partition":
                assert "partition" in problem["detail"], problem


async def test_the_client_reads_a_partition(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served_ledger(database_url) as served:
        for learner in LEARNERS:
            response = await served.append(assessment_passed(learner_id=learner), NSTI)
            assert response.status_code == 201, response.text
        client = LedgerClient(served.base_url, await served.key(Role.AUDITOR))
        try:
            log = await client.read_range(0, CATALOG_EVENTS + len(LEARNERS))
            assert [e.position for e in log] == list(range(1, CATALOG_EVENTS + len(LEARNERS) + 1))
            head = log[-1].position

            def mine(partition: Partition, after: int, up_to: int = head) -> list[int]:
                return [
                    e.position
                    for e in log
                    if after < e.position <= up_to and holds(partition, {"stream": e.stream})
                ]

            for partition in all_partitions(3):
                page = await client.log_page(CATALOG_EVENTS, 10, partition=partition)
                assert [e.position for e in page.events] == mine(partition, CATALOG_EVENTS)
                assert page.next_after_position == head
                passes = await client.log_page(0, 10, ["AssessmentPassed"], partition)
                assert [e.position for e in passes.events] == mine(partition, CATALOG_EVENTS)
                streamed = [e async for e in client.log_ndjson(20, partition)]
                assert [e.position for e in streamed] == mine(partition, 20)
                raw = [e async for e in client.log_ndjson_raw(20, partition)]
                assert [e.position for e in raw] == mine(partition, 20)

            # Small pages make several of them, and a range may end between two of them.
            monkeypatch.setattr(ledger_client, "PAGE_EVENTS_MAX", 2)
            for partition in all_partitions(3):
                for after, up_to in ((0, head), (20, head - 2), (CATALOG_EVENTS, head), (5, 6)):
                    ranged = await client.read_range(after, up_to, partition)
                    assert [e.position for e in ranged] == mine(partition, after, up_to)

            with pytest.raises(LedgerError, match="no event after position") as short:
                await client.read_range(head - 1, head + 1, Partition(0, 2))
            assert short.value.code == "log_shorter_than_asked"
        finally:
            await client.close()
