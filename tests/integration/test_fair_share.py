"""The fair share per key (services/ledger/fair_share.py) on a real ledger and PostgreSQL.

An institution flooding the ledger with batches gets 429 (with Retry-After, nothing
written) while another institution's single appends wait, and that institution is never
refused; the same flood alone is never throttled. Two ledger apps on one database, as two
worker processes are, share the counts through ``ledger.admission``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from proto.envelope import Role
from tests.support.factories import ATI, NSTI, append_body, assessment_passed
from tests.support.ledger import Ledger, served_ledger

pytestmark = pytest.mark.integration

FLOODERS = 8
BATCHES_EACH = 6
BATCH = 50


def _batch(flooder: int, round_: int) -> dict[str, object]:
    return {
        "events": [
            append_body(
                assessment_passed(
                    assessment_id=f"F{flooder}-{round_}-{n}",
                    learner_id=f"7{flooder:02d}{round_:03d}{n:06d}",
                    institution_id=NSTI,
                )
            )
            for n in range(BATCH)
        ]
    }


async def _flood(ledger: Ledger, statuses: Counter[int], retry_after: set[str]) -> None:
    async def flooder(index: int) -> None:
        for round_ in range(BATCHES_EACH):
            response = await ledger.post(
                "/v1/events/batch", _batch(index, round_), Role.INSTITUTION, NSTI
            )
            statuses[response.status_code] += 1
            if response.status_code == 429:
                assert response.json()["code"] == "over_fair_share", response.text
                retry_after.add(response.headers["retry-after"])

    await ledger.key(Role.INSTITUTION, NSTI)  # one key for every flooder, made before they start
    await asyncio.gather(*(flooder(i) for i in range(FLOODERS)))


async def _singles(ledger: Ledger, stop: asyncio.Event, statuses: Counter[int]) -> None:
    await ledger.key(Role.INSTITUTION, ATI)
    n = 0
    while not stop.is_set():
        event = assessment_passed(
            assessment_id=f"S-{n}", learner_id=f"8{n:011d}", institution_id=ATI
        )
        response = await ledger.append(event, ATI)
        statuses[response.status_code] += 1
        n += 1


async def _log_size(ledger: Ledger) -> int:
    head = (await ledger.get("/v1/head")).json()
    return int(head["position"])


def _ledger(database_url: str, *, catalog: bool) -> contextlib.AbstractAsyncContextManager[Ledger]:
    """A ledger whose fair share 8 concurrent batches of 50 go over (100 among 2 keys)."""
    return served_ledger(
        database_url,
        catalog=catalog,
        CREDIT_LEDGER_FAIR_SHARE_EVENTS="100",
        CREDIT_LEDGER_BATCH_EVENTS_MAX="50",
    )


@contextlib.asynccontextmanager
async def _ledgers(database_url: str, count: int) -> AsyncIterator[list[Ledger]]:
    async with contextlib.AsyncExitStack() as stack:
        ledgers = [
            await stack.enter_async_context(_ledger(database_url, catalog=index == 0))
            for index in range(count)
        ]
        yield ledgers


@pytest.mark.parametrize("apps", [1, 2], ids=["one process", "two processes"])
async def test_a_flood_is_held_to_its_share_while_another_institution_waits(
    database_url: str, apps: int
) -> None:
    async with _ledgers(database_url, apps) as ledgers:
        flood, small = ledgers[0], ledgers[-1]
        before = await _log_size(flood)
        flood_statuses: Counter[int] = Counter()
        small_statuses: Counter[int] = Counter()
        retry_after: set[str] = set()
        stop = asyncio.Event()
        singles = asyncio.create_task(_singles(small, stop, small_statuses))
        await asyncio.sleep(0.3)  # the small institution's appends are waiting, and reported
        await _flood(flood, flood_statuses, retry_after)
        stop.set()
        await singles

        assert set(small_statuses) == {201}, small_statuses
        assert flood_statuses[429] > 0, flood_statuses
        assert set(flood_statuses) <= {201, 429}, flood_statuses
        assert retry_after == {"1"}
        # A refused batch wrote nothing: the log holds exactly what was accepted.
        written = flood_statuses[201] * BATCH + small_statuses[201]
        assert await _log_size(flood) == before + written


async def test_a_flood_alone_is_never_throttled(database_url: str) -> None:
    async with _ledger(database_url, catalog=True) as ledger:
        statuses: Counter[int] = Counter()
        await _flood(ledger, statuses, set())
        assert statuses == Counter({201: FLOODERS * BATCHES_EACH})
