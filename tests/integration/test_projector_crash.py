"""The projector SIGKILLed mid-stream and restarted ends where a rebuild from position 0
ends (docs/architecture.md §5: the checkpoint commits with the change, so nothing is applied twice or
lost), and no threshold event reaches the CREDIT stream twice."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from proto.envelope import Role
from services.common.settings.projector import DEFAULT_PARTITIONS as PARTITIONS
from services.projector.app import PROJECTOR_ROLE
from services.projector.rebuild import rebuild
from tests.support.cnc_load import (
    LEARNERS,
    PASSES_EACH,
    QUALIFICATION,
    append_in_batches,
    bank_answers,
    learner_ids,
    planned_passes,
)
from tests.support.ledger import served_ledger
from tests.support.projector_process import ProjectorProcess, kill_once_past
from tests.support.read_model import (
    duplicates,
    outbox_drained,
    published_eligible,
    read_model,
)
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
async def test_a_projector_killed_mid_stream_and_restarted_ends_where_a_rebuild_ends(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    rng = random.Random(20260)
    learners = learner_ids(rng)
    async with served_ledger(database_url, nats.url) as ledger:
        catalog_head = (await ledger.get("/v1/head")).json()["position"]
        head = await append_in_batches(ledger, planned_passes(rng, learners))
        assert head == catalog_head + LEARNERS * PASSES_EACH
        api_key = await ledger.key(Role.AUDITOR)
        projector = ProjectorProcess(
            database_url=database_url,
            nats_url=nats.url,
            ledger_url=ledger.base_url,
            api_key=api_key,
            log_path=tmp_path / "projector.log",
        )
        try:
            await projector.start()

            # Killed once a partition committed its first batch: each partition applies
            # its ~1,000 events in batches of at most 500, so the other is mid-stream.
            async def furthest_partition() -> int:
                return max((await projector.partition_checkpoints()).values())

            killed_at = await kill_once_past(projector, furthest_partition, catalog_head)
            stored_at_kill = (await read_model(database_url)).checkpoint  # the lowest
            assert stored_at_kill < head, "the kill should leave a partition mid-stream"
            assert killed_at > catalog_head

            await projector.start()
            assert await projector.wait_checkpoint(head) == head
            restarted = await bank_answers(projector, learners)
            await outbox_drained(database_url)
            live_model = await read_model(database_url)
            projector.terminate()

            reached = await rebuild(
                database_url,
                ledger.base_url,
                api_key,
                PROJECTOR_ROLE,
                partitions=PARTITIONS,
                progress=False,
            )
            assert reached == head
            rebuilt_model = await read_model(database_url)
            await projector.start()
            assert await projector.wait_checkpoint(head) == head
            rebuilt = await bank_answers(projector, learners)
            await outbox_drained(database_url)
            published = await published_eligible(nats.url)
        finally:
            await projector.aclose()

    # Nothing applied twice, nothing lost: the projector's copy of the log is 1..head.
    assert live_model.checkpoint == rebuilt_model.checkpoint == head
    assert live_model.event_positions == list(range(1, head + 1))
    assert rebuilt_model.event_positions == live_model.event_positions

    # The read model the killed-and-restarted projector left is the one a rebuild makes.
    assert rebuilt_model.credit_banks.keys() == set(learners)
    assert live_model.credit_banks == rebuilt_model.credit_banks
    assert live_model.progress == rebuilt_model.progress
    assert live_model.thresholds == rebuilt_model.thresholds
    differing = [learner for learner in learners if restarted[learner] != rebuilt[learner]]
    assert differing == [], f"{len(differing)} credit banks differ, e.g. {differing[:3]}"

    # Every threshold reached the CREDIT stream exactly once, across the kill, the restart,
    # the rebuild and the second start.
    assert duplicates([m.message_id for m in published]) == []
    assert duplicates([m.threshold_key for m in published]) == []
    assert {m.message_id for m in published} == {
        message_id for _, message_id in live_model.thresholds.values()
    }
    satisfied = {
        learner
        for (learner, code), (_, is_satisfied, _, _) in rebuilt_model.progress.items()
        if code == QUALIFICATION and is_satisfied
    }
    assert satisfied, "the plan should make some learners eligible"
    per_learner = Counter(
        m.body["learner_id"] for m in published if m.body["qualification_code"] == QUALIFICATION
    )
    assert {learner: per_learner[learner] for learner in satisfied} == dict.fromkeys(satisfied, 1)
