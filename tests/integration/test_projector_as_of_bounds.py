"""A read as of a position is never answered as of another: past the ledger's head it is an
invalid parameter (422); held by the ledger but not applied yet by the learner's partition,
it is waited for, then refused with 409 not_yet_projected and Retry-After."""

from __future__ import annotations

import time

import pytest

from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

LEARNER = "900000000001"
CATALOG_EVENTS = 28


async def test_positions_past_the_head_or_the_checkpoint_are_refused_not_clamped(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url, worker=False) as projector,
    ):
        path = f"/v1/learners/{LEARNER}/credit-bank"
        past = await projector.get(path, as_of_position=CATALOG_EVENTS + 1)
        assert past.status_code == 422, past.text
        assert past.json()["code"] == "invalid_parameter"
        assert "past the ledger's head (28)" in past.json()["detail"]

        started = time.monotonic()
        pending = await projector.get(path, as_of_position=CATALOG_EVENTS)
        waited = time.monotonic() - started
        assert pending.status_code == 409, pending.text
        assert pending.json()["code"] == "not_yet_projected"
        assert pending.headers["Retry-After"] == "1"
        assert waited >= 1.5  # it waited for the partition before refusing

        progress = await projector.get(
            f"/v1/learners/{LEARNER}/progress/ADV-CNC-MACHINING", as_of_position=10**9
        )
        assert progress.status_code == 422, progress.text
