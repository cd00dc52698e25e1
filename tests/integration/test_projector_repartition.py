"""Changing the number of partitions, as docs/architecture.md ("Changing the number of
partitions") tells an operator to: stop every partition, rebuild in the new number, start
again. From 2 to 3, the answers are an auditor's replay of the ledger, before and after
more events, and no threshold is published twice."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import msgspec
import pytest

from proto.envelope import Role
from proto.partitions import Partition
from services.common.ledger_client import LedgerClient
from services.ledger.audit.replay import load_history, replay, resolve
from services.projector import store
from services.projector.app import PROJECTOR_ROLE
from services.projector.rebuild import RebuildSpec, rebuild, rebuild_partition
from tests.support.cnc_load import append_in_batches, bank_answers, learner_ids, planned_passes
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import running_projector
from tests.support.read_model import duplicates, outbox_drained, published_eligible
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

BEFORE, AFTER = 2, 3
AUDITED = 40  # learners whose answers are replayed by the auditor's code, from the ledger


async def auditor_banks(ledger: Ledger, learners: list[str]) -> dict[str, Any]:
    """The credit bank answer of ``credit-ledger audit replay`` for each learner, at the head."""
    reader = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
    try:
        at = await resolve(reader, None)
        answers = {}
        for learner in learners:
            answer = replay(await load_history(reader, learner), *at)
            answers[learner] = None if answer is None else msgspec.to_builtins(answer)
        return answers
    finally:
        await reader.close()


async def layouts(database_url: str) -> set[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return {partition.count for partition in await store.checkpoints(conn)}
    finally:
        await conn.close()


async def test_changing_from_two_to_three_partitions_gives_the_auditors_answers(
    database_url: str, nats: NatsHandle
) -> None:
    rng = random.Random(20261203)
    learners = learner_ids(rng)
    passes = planned_passes(rng, learners)
    first, rest = passes[: len(passes) // 2], passes[len(passes) // 2 :]
    early = sorted({p["learner_id"] for p in first})  # the learners with events before
    audited = rng.sample(early, AUDITED)
    async with served_ledger(database_url, nats.url) as ledger:
        partitions = str(BEFORE)
        async with running_projector(
            ledger, database_url, nats.url, CREDIT_LEDGER_PROJECTOR_PARTITIONS=partitions
        ) as projector:
            await append_in_batches(ledger, first)
            await projector.caught_up()
            answers_before = await bank_answers(projector, early)
        assert await layouts(database_url) == {BEFORE}

        # Partitions of the new number refuse the old layout's rows until they are rebuilt.
        conn = await asyncpg.connect(database_url)
        try:
            with pytest.raises(store.LayoutMismatch, match="rebuild"):
                await store.check_layout(conn, AFTER)
        finally:
            await conn.close()
        key = await ledger.key(Role.AUDITOR)
        # Nor is one partition of the new number rebuilt beside the old layout's.
        spec = RebuildSpec(database_url, ledger.base_url, key, PROJECTOR_ROLE, progress=False)
        with pytest.raises(store.LayoutMismatch):
            await rebuild_partition(spec, Partition(0, AFTER))
        assert await layouts(database_url) == {BEFORE}
        head = int((await ledger.get("/v1/head")).json()["position"])
        reached = await rebuild(
            database_url, ledger.base_url, key, PROJECTOR_ROLE, partitions=AFTER, progress=False
        )
        assert reached == head
        assert await layouts(database_url) == {AFTER}

        partitions = str(AFTER)
        async with running_projector(
            ledger, database_url, nats.url, CREDIT_LEDGER_PROJECTOR_PARTITIONS=partitions
        ) as projector:
            assert await projector.caught_up() == head
            assert await bank_answers(projector, early) == answers_before
            audited_answers = {learner: answers_before[learner] for learner in audited}
            assert await auditor_banks(ledger, audited) == audited_answers

            # The new partitions' consumers carry on live.
            await append_in_batches(ledger, rest)
            await projector.caught_up()
            after = await bank_answers(projector, audited)
            assert await auditor_banks(ledger, audited) == after
            assert {learner: after[learner] for learner in audited} != audited_answers
            await outbox_drained(database_url)
        published = await published_eligible(nats.url)
    assert published
    assert duplicates([m.message_id for m in published]) == []
    assert duplicates([m.threshold_key for m in published]) == []
