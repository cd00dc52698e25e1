"""A partition's leader SIGKILLed under load: its standby, another process waiting on the
partition's lock, takes over; the other partition runs on undisturbed; nothing is applied
twice or lost (the read model is the one a rebuild makes) and no threshold reaches the
CREDIT stream twice (docs/architecture.md, "Partitions")."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from proto.envelope import Role
from services.projector.app import PROJECTOR_ROLE
from services.projector.rebuild import rebuild
from tests.support.cnc_load import (
    LEARNERS,
    PASSES_EACH,
    append_in_batches,
    bank_answers,
    learner_ids,
    planned_passes,
)
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector_process import ProjectorProcess, kill_once_past
from tests.support.read_model import duplicates, outbox_drained, published_eligible, read_model
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

PARTITIONS = 2
KILLED_PARTITION = 0
# A steady load of small batches, so the kill lands while messages are in flight.
LOAD_BATCH = 50
LOAD_PAUSE_S = 0.05
TAKEOVER_WITHIN_S = 15.0


def partition_process(
    ledger: Ledger, database_url: str, nats_url: str, api_key: str, log: Path, run: int
) -> ProjectorProcess:
    return ProjectorProcess(
        database_url=database_url,
        nats_url=nats_url,
        ledger_url=ledger.base_url,
        api_key=api_key,
        log_path=log,
        CREDIT_LEDGER_PROJECTOR_PARTITIONS=str(PARTITIONS),
        CREDIT_LEDGER_PROJECTOR_RUN_PARTITIONS=str(run),
    )


@pytest.mark.timeout(240)
async def test_a_killed_partition_leader_is_replaced_by_its_standby_and_nothing_is_lost(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    learners = learner_ids(rng)
    async with served_ledger(database_url, nats.url) as ledger:
        catalog_head = int((await ledger.get("/v1/head")).json()["position"])
        api_key = await ledger.key(Role.AUDITOR)
        leader, standby, other = (
            partition_process(ledger, database_url, nats.url, api_key, tmp_path / f"{n}.log", run)
            for n, run in (("leader", 0), ("standby", 0), ("other", 1))
        )
        try:
            await leader.start()
            await leader.wait_leads(KILLED_PARTITION)
            await standby.start()
            await other.start()
            await other.wait_leads(1)
            assert not await standby.leads(KILLED_PARTITION)

            load = asyncio.create_task(
                append_in_batches(
                    ledger, planned_passes(rng, learners), LOAD_BATCH, pause_s=LOAD_PAUSE_S
                )
            )

            async def led_checkpoint() -> int:
                return (await leader.partition_checkpoints())[KILLED_PARTITION]

            killed_at = await kill_once_past(leader, led_checkpoint, catalog_head + LOAD_BATCH)
            await standby.wait_leads(KILLED_PARTITION, timeout_s=TAKEOVER_WITHIN_S)
            assert not load.done(), "the load should outlast the takeover"
            head = await load
            assert head == catalog_head + LEARNERS * PASSES_EACH
            assert killed_at < head

            assert await standby.wait_checkpoint(head) == head
            live = await bank_answers(standby, learners)
            await outbox_drained(database_url)
            live_model = await read_model(database_url)
            standby.terminate()
            other.terminate()

            assert (
                await rebuild(
                    database_url,
                    ledger.base_url,
                    api_key,
                    PROJECTOR_ROLE,
                    partitions=PARTITIONS,
                    progress=False,
                )
                == head
            )
            rebuilt_model = await read_model(database_url)
            await other.start()
            rebuilt = await bank_answers(other, learners)
            published = await published_eligible(nats.url)
        finally:
            for process in (leader, standby, other):
                await process.aclose()

    assert live_model.event_positions == list(range(1, head + 1))
    assert live_model.credit_banks == rebuilt_model.credit_banks
    assert live_model.progress == rebuilt_model.progress
    assert live_model.thresholds == rebuilt_model.thresholds
    assert live == rebuilt
    assert duplicates([m.message_id for m in published]) == []
    assert duplicates([m.threshold_key for m in published]) == []
    assert {m.message_id for m in published} == {
        message_id for _, message_id in live_model.thresholds.values()
    }
