"""A partition restarted from an empty read model catches up: its worker binds its consumer
at checkpoint 0 + 1 and applies what JetStream holds, or, when the stream no longer holds
it, what the ledger's partition-filtered read API does (docs/architecture.md, "Partitions").
Either way the read model and the answers are what they were."""

from __future__ import annotations

import random

import asyncpg
import pytest

from tests.support.cnc_load import append_in_batches, bank_answers, learner_ids, planned_passes
from tests.support.jetstream import purge_ledger_stream, relayed_up_to
from tests.support.ledger import served_ledger
from tests.support.projector import metric_value, running_projector
from tests.support.read_model import ReadModel, read_model
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

PARTITIONS = 2
EMPTIED = 1


async def empty_partition(database_url: str, index: int) -> None:
    """What a partition's rows are after its read model is lost: none, and no checkpoint."""
    conn = await asyncpg.connect(database_url)
    try:
        for table in ("events", "credit_banks", "progress"):
            await conn.execute(
                f"DELETE FROM projector.{table} WHERE bucket % $1 = $2", PARTITIONS, index
            )
        await conn.execute(
            "DELETE FROM projector.checkpoints WHERE partitions = $1 AND partition = $2",
            PARTITIONS,
            index,
        )
    finally:
        await conn.close()


def rows(model: ReadModel) -> tuple[object, ...]:
    return (model.event_positions, model.credit_banks, model.progress, model.thresholds)


@pytest.mark.parametrize("stream_kept", [True, False], ids=["from-jetstream", "from-the-ledger"])
async def test_a_partition_restarted_from_an_empty_read_model_catches_up(
    database_url: str, nats: NatsHandle, stream_kept: bool
) -> None:
    rng = random.Random(20261204)
    learners = learner_ids(rng)
    async with served_ledger(database_url, nats.url) as ledger:
        async with running_projector(ledger, database_url, nats.url) as projector:
            head = await append_in_batches(ledger, planned_passes(rng, learners))
            await projector.caught_up()
            answers = await bank_answers(projector, learners)
        before = await read_model(database_url)
        await empty_partition(database_url, EMPTIED)
        assert rows(await read_model(database_url)) != rows(before)
        if not stream_kept:
            await relayed_up_to(nats.url, head)
            await purge_ledger_stream(nats.url)

        async with running_projector(ledger, database_url, nats.url) as projector:
            assert await projector.caught_up() == head
            assert await bank_answers(projector, learners) == answers
            filled = await metric_value(projector, "projector_events_gap_filled_total")
        assert rows(await read_model(database_url)) == rows(before)
        # Read from the ledger exactly when JetStream no longer held the partition's events.
        assert (filled > 0) == (not stream_kept)
