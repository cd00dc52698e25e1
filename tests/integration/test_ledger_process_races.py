"""Two ``credit-ledger serve`` process trees on one database, raced against each other.

Each process has its own pool, group commit and event loop; only PostgreSQL's append
lock and the log's constraints stand between them (docs/architecture.md §3). So:
- the same ``event_id`` sent to both at once is one row, and both answers are the
  original result (one of them marked a duplicate);
- two appends to one stream with the same ``expected_version``, one to each process, are
  one success and one conflict;
- a process killed with SIGKILL in the middle of its appends loses nothing it
  acknowledged: every 201 it sent is in the log at the position and hash it gave, and the
  log stays gap-free and chained for the process that lives on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proto.envelope import Role
from tests.integration.test_concurrent_appends import _read_all
from tests.support.chain import first_mismatch
from tests.support.factories import NSTI, append_body, assessment_passed, new_id
from tests.support.ledger import Ledger
from tests.support.serve_process import ServeProcess, serve_process
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

PAIRS = 40
STREAMS = 12
KILL_WRITERS = 16
KILL_AFTER = 200


@pytest.fixture
async def two(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> AsyncIterator[tuple[ServeProcess, ServeProcess]]:
    async with (
        serve_process(database_url, nats.url, tmp_path / "a") as first,
        serve_process(database_url, nats.url, tmp_path / "b", catalog=False) as second,
    ):
        yield first, second


def _learner(n: int) -> str:
    return f"7300000000{n:02d}"


async def _post(ledger: Ledger, body: dict[str, Any]) -> httpx.Response:
    return await ledger.post("/v1/events", body, Role.INSTITUTION, NSTI)


async def test_one_event_id_sent_to_both_at_once_is_one_row(
    two: tuple[ServeProcess, ServeProcess],
) -> None:
    first, second = two
    bodies = [
        append_body(assessment_passed(assessment_id=f"RACE-{n}", learner_id=_learner(n % 7)))
        for n in range(PAIRS)
    ]
    answers = await asyncio.gather(
        *(_post(served.ledger, body) for body in bodies for served in (first, second))
    )
    for n in range(PAIRS):
        a, b = answers[2 * n], answers[2 * n + 1]
        assert {a.status_code, b.status_code} == {200, 201}, (a.text, b.text)
        original, repeated = (a.json(), b.json()) if a.status_code == 201 else (b.json(), a.json())
        assert original["duplicate"] is False
        assert repeated["duplicate"] is True
        assert {**repeated, "duplicate": False} == original
    events = await _read_all(first.ledger)
    raced = [e for e in events if e["event_id"] in {body["event_id"] for body in bodies}]
    assert len(raced) == PAIRS
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert first_mismatch(events) is None


async def test_one_expected_version_wins_once_across_processes(
    two: tuple[ServeProcess, ServeProcess],
) -> None:
    first, second = two
    for n in range(STREAMS):
        opened = await _post(
            first.ledger,
            append_body(assessment_passed(assessment_id=f"OPEN-{n}", learner_id=_learner(20 + n))),
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["stream_version"] == 1
    contenders = [
        append_body(
            assessment_passed(assessment_id=f"NEXT-{n}-{side}", learner_id=_learner(20 + n)),
            expected_version=1,
        )
        for n in range(STREAMS)
        for side in (0, 1)
    ]
    answers = await asyncio.gather(
        *(_post((first, second)[i % 2].ledger, body) for i, body in enumerate(contenders))
    )
    for n in range(STREAMS):
        pair = answers[2 * n : 2 * n + 2]
        assert sorted(r.status_code for r in pair) == [201, 409], [r.text for r in pair]
        winner = next(r for r in pair if r.status_code == 201)
        assert winner.json()["stream_version"] == 2
        loser = next(r for r in pair if r.status_code == 409)
        assert loser.headers["content-type"].startswith("application/problem+json")
    events = await _read_all(first.ledger)
    assert first_mismatch(events) is None


async def _writer(
    ledger: Ledger, writer: int, acknowledged: list[dict[str, Any]], enough: asyncio.Event
) -> None:
    """Appends until the process dies; keeps every answer it got a 201 for, and sets
    ``enough`` once there are ``KILL_AFTER`` of them."""
    n = 0
    with contextlib.suppress(httpx.TransportError):
        while True:
            body = append_body(
                assessment_passed(
                    assessment_id=f"KILL-{writer}-{n}", learner_id=_learner(40 + writer % 30)
                )
            )
            response = await _post(ledger, body)
            if response.status_code == 201:
                acknowledged.append(response.json())
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()
            n += 1


async def test_a_process_killed_mid_group_loses_nothing_it_acknowledged(
    two: tuple[ServeProcess, ServeProcess],
) -> None:
    survivor, victim = two
    acknowledged: list[dict[str, Any]] = []
    enough, unused = asyncio.Event(), asyncio.Event()
    writers = [
        asyncio.create_task(_writer(victim.ledger, w, acknowledged, enough))
        for w in range(KILL_WRITERS)
    ]
    others: list[dict[str, Any]] = []
    survivors = [
        asyncio.create_task(_writer(survivor.ledger, 100 + w, others, unused)) for w in range(4)
    ]
    await asyncio.wait_for(enough.wait(), 60)
    victim.kill()  # SIGKILL to its HTTP worker, relay and tree builder, mid-group
    await asyncio.wait_for(asyncio.gather(*writers), 30)
    await asyncio.sleep(0.5)  # the survivor goes on appending past the victim's death
    for task in survivors:
        task.cancel()
    await asyncio.gather(*survivors, return_exceptions=True)

    events = await _read_all(survivor.ledger)
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert first_mismatch(events) is None
    by_id = {e["event_id"]: e for e in events}
    for answer in acknowledged + others:
        stored = by_id.get(answer["event_id"])
        assert stored is not None, answer
        assert (stored["position"], stored["hash"]) == (answer["position"], answer["hash"])
    # And the survivor still appends after the death.
    after = await _post(survivor.ledger, append_body(assessment_passed(assessment_id=new_id())))
    assert after.status_code == 201, after.text
