"""Issuer replicas as processes: a crash between the award's append and its signing, three
replicas at once, forced redeliveries and duplicate hints; still one award and one credential
per (learner, qualification, version, generation)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from pathlib import Path

import nats as nats_client
import pytest

from proto.derived import CREDIT_STREAM
from proto.envelope import Role
from services.issuer.credentials.keys import ensure_dev_keys
from tests.support.issuer import (
    CERTIFICATE,
    apply_issuer_schema,
    awards_in_log,
    eventually,
    issuer_env,
    issuer_processes,
    pass_modules,
    query,
)
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

LEARNERS = [f"86000000000{i}" for i in range(6)]
PUBLIC_URL = "http://issuer.replicas.test"


async def credentials_by_award(database_url: str) -> Counter[str]:
    rows = await query(database_url, "SELECT award_id::text AS award_id FROM issuer.credentials")
    return Counter(r["award_id"] for r in rows)


async def test_replicas_crashes_and_redeliveries_yield_one_award_and_one_credential(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    from credit_ledger.embedded.processes import free_port

    await apply_issuer_schema(database_url)
    key_file = ensure_dev_keys(tmp_path)
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
    ):
        api_key = await ledger.key(Role.ISSUER)

        def env(**faults: str) -> dict[str, str]:
            return issuer_env(
                ledger,
                database_url,
                nats.url,
                api_key,
                key_file,
                free_port(),
                PUBLIC_URL,
                CREDIT_LEDGER_ISSUER_ACK_WAIT_S="2",
                **faults,
            )

        # 1. One issuer that dies (SIGKILL) right after its first award is appended.
        with issuer_processes(
            [env(CREDIT_LEDGER_ISSUER_FAULT_CRASH_AFTER_AWARD="true")], tmp_path, "crashing"
        ) as [crashing]:
            await pass_modules(ledger, LEARNERS[0])
            assert await crashing.exited() == -signal.SIGKILL, crashing.log_tail()
        [award] = await awards_in_log(ledger, LEARNERS[0])
        assert award["type"] == "QualificationAwarded"
        assert award["data"]["award_id"] not in await credentials_by_award(database_url)

        # 2. Three replicas, each leaving every first delivery unacknowledged, while more
        #    learners complete the certificate and the hints are published twice.
        replicas = [env(CREDIT_LEDGER_ISSUER_FAULT_SKIP_FIRST_ACK="true") for _ in range(3)]
        with issuer_processes(replicas, tmp_path, "replica") as running:
            for learner in LEARNERS[1:]:
                await pass_modules(ledger, learner)
            hints = await read_stream_messages(
                nats.url, CREDIT_STREAM, "credit.v1.eligible.>", len(LEARNERS)
            )
            client = await nats_client.connect(
                nats.url, connect_timeout=5, max_reconnect_attempts=5
            )
            try:
                js = client.jetstream()
                for hint in hints:  # a second copy under a new message id: not deduplicated
                    await js.publish(
                        hint.subject, hint.data, headers={"Nats-Msg-Id": str(uuid.uuid4())}
                    )
            finally:
                await client.close()

            async def all_signed() -> bool:
                return len(await credentials_by_award(database_url)) == len(LEARNERS)

            await eventually(all_signed, "a credential for every learner", timeout_s=45)
            # The unacknowledged first deliveries come back after the 2 s ack wait and are
            # handled a second time; give them that long, then check nothing was doubled.
            await asyncio.sleep(4)
            assert all(p.process.poll() is None for p in running), running[0].log_tail()

        per_award = await credentials_by_award(database_url)
        assert set(per_award.values()) == {1}
        keys: Counter[tuple[str, str, int, int]] = Counter()
        for learner in LEARNERS:
            events = await awards_in_log(ledger, learner)
            assert [e["type"] for e in events] == ["QualificationAwarded"], events
            data = events[0]["data"]
            keys[
                (
                    learner,
                    data["qualification_code"],
                    data["qualification_version"],
                    data["award_generation"],
                )
            ] += 1
            assert data["award_id"] in per_award
        assert set(keys.values()) == {1}
        assert {k[1] for k in keys} == {CERTIFICATE}
