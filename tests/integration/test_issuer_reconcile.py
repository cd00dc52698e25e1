"""Reconciliation from the ledger: what the issuer's consumers never received is repaired
by reading the log (GET /v1/log with the issuer's key), from a checkpoint, one replica at a
time.

A message is lost deterministically by running the ledger the issuer appends through with
its relay off (``served_ledger(..., None)``, on the same database): what the issuer appends
then, and what is revoked then, never reaches NATS while the test runs, so the consumers
cannot see it and only reconciliation can.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from proto.derived import CREDIT_STREAM, eligible_subject
from proto.subjects import LEDGER_STREAM, subject_for
from services.issuer.reconcile import RECONCILE_LOCK_KEY
from tests.integration.test_issuer_revoking import status_bit
from tests.support.factories import NSTI
from tests.support.issuer import (
    CERTIFICATE,
    Issuer,
    awards_in_log,
    eventually,
    holds,
    pass_modules,
    query,
    revoke_pass,
    running_issuer,
)
from tests.support.ledger import Ledger, running_ledger, served_ledger
from tests.support.projector import record_pass, running_projector
from tests.support.servers import NatsHandle
from tests.support.tail import read_stream_messages

pytestmark = pytest.mark.integration

UNHEARD_AWARD = "870000000001"
UNHEARD_REVOCATION = "870000000002"
FILTERED = "870000000003"
# A pass every 0.2 s, nothing left to the consumers: the tests wait for the repair by polling.
EAGER = {
    "CREDIT_LEDGER_ISSUER_RECONCILE_INTERVAL_S": "0.2",
    "CREDIT_LEDGER_ISSUER_RECONCILE_GRACE_S": "0",
}
REPAIRS = "issuer_reconcile_repairs_total"
# One public URL for an issuer started twice (on two ports), so its credentials stay its own.
PUBLIC_URL = {"CREDIT_LEDGER_ISSUER_PUBLIC_URL": "http://issuer.reconcile.test"}


async def metric(issuer: Issuer, sample: str) -> float:
    """One sample of the issuer's /metrics, e.g. ``name{label="value"}`` (0 when absent)."""
    text = (await issuer.client.get("/metrics")).text
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0


async def head_of(ledger: Ledger) -> int:
    return int((await ledger.get("/v1/head")).json()["position"])


async def checkpoint(database_url: str) -> int:
    [row] = await query(database_url, "SELECT position FROM issuer.reconcile_checkpoint")
    return int(row["position"])


async def status_bit_of(issuer: Issuer, credential: dict[str, object]) -> bool:
    document = credential["credential"]
    assert isinstance(document, dict)
    entry = document["credentialStatus"]
    # The path only: an issuer started again listens (and signed) on another port.
    path = urlsplit(entry["statusListCredential"]).path
    listed = (await issuer.client.get(path, params={"format": "json"})).json()
    return status_bit(listed["credentialSubject"]["encodedList"], int(entry["statusListIndex"]))


async def test_an_award_and_a_revocation_nats_never_carried_are_repaired_from_the_log(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    # The projector sees the passes and publishes the eligibility hint; then it stops.
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
    ):
        passes = await pass_modules(ledger, UNHEARD_AWARD)
        hints = await read_stream_messages(
            nats.url, CREDIT_STREAM, eligible_subject(CERTIFICATE, UNHEARD_AWARD), 1
        )
        assert len(hints) == 1

    # Another replica holds the reconciliation: this issuer's passes skip, and the award it
    # appends (relay off) reaches no consumer.
    holder = await asyncpg.connect(database_url)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RECONCILE_LOCK_KEY)
        async with (
            served_ledger(database_url, None, catalog=False) as quiet,
            running_issuer(quiet, database_url, nats.url, tmp_path, **EAGER) as issuer,
        ):

            async def awarded_and_skipped() -> bool:
                busy = await metric(issuer, 'issuer_reconcile_passes_total{outcome="busy"}')
                return busy >= 2 and len(await awards_in_log(quiet, UNHEARD_AWARD)) == 1

            await eventually(awarded_and_skipped, "the award, and passes left to the lock holder")
            assert await issuer.credentials(UNHEARD_AWARD) == []

            await holder.execute("SELECT pg_advisory_unlock($1)", RECONCILE_LOCK_KEY)
            [credential] = await issuer.wait_for(UNHEARD_AWARD, holds(CERTIFICATE))
            [award] = await awards_in_log(quiet, UNHEARD_AWARD)
            assert credential["award_id"] == award["data"]["award_id"]
            [signed] = await query(
                database_url,
                "SELECT award_position FROM issuer.credentials WHERE award_id = $1::uuid",
                award["data"]["award_id"],
            )
            assert signed["award_position"] == award["position"]
            assert (await issuer.verify(credential["jwt"]))["valid"]
            assert await metric(issuer, f'{REPAIRS}{{kind="credential_issued"}}') == 1
            # The credentials consumer never handled anything: reconciliation signed it.
            assert (
                await metric(
                    issuer, 'issuer_messages_total{consumer="issuer-credentials",outcome="issued"}'
                )
                == 0
            )

            # The checkpoint reaches the head, so later passes start there.
            head = await head_of(quiet)

            async def checkpoint_at_head() -> bool:
                return await checkpoint(database_url) == head

            await eventually(checkpoint_at_head, "the checkpoint to reach the head")

            # A pass revoked while NATS still hears nothing: reconciliation runs the cascade
            # (the award is revoked in the log) and then sets the credential's status bit.
            await revoke_pass(quiet, UNHEARD_AWARD, passes["CNC-MAINT"])
            [revoked] = await issuer.wait_for(UNHEARD_AWARD, holds(CERTIFICATE, active=False))
            assert revoked["credential_id"] == credential["credential_id"]
            assert await status_bit_of(issuer, revoked)
            report = await issuer.verify(revoked["jwt"])
            assert not report["valid"]
            assert "revoked" in report["status"]["reason"], report
            types = [a["type"] for a in await awards_in_log(quiet, UNHEARD_AWARD)]
            assert types == ["QualificationAwarded", "QualificationRevoked"]
            assert await metric(issuer, f'{REPAIRS}{{kind="award_revoked"}}') == 1
            assert await metric(issuer, f'{REPAIRS}{{kind="status_bit_set"}}') == 1
            assert await metric(issuer, f'{REPAIRS}{{kind="credential_issued"}}') == 1
            # Neither consumer heard of the revoked pass or of the award's revocation.
            for consumer, outcome in (
                ("issuer-revocations", "revoked_1"),
                ("issuer-credentials", "revoked"),
            ):
                handled = f'issuer_messages_total{{consumer="{consumer}",outcome="{outcome}"}}'
                assert await metric(issuer, handled) == 0
    finally:
        await holder.close()


async def test_a_revocation_whose_message_was_lost_sets_its_status_bit(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
    ):
        # The normal path, with reconciliation at its defaults (a pass at start only).
        async with running_issuer(ledger, database_url, nats.url, tmp_path, **PUBLIC_URL) as issuer:
            passes = await pass_modules(ledger, UNHEARD_REVOCATION)
            [credential] = await issuer.wait_for(UNHEARD_REVOCATION, holds(CERTIFICATE))

        # With the issuer down, a pass is revoked; its message waits on LEDGER.
        await revoke_pass(ledger, UNHEARD_REVOCATION, passes["CNC-QC"])
        subject = subject_for(f"learner-{UNHEARD_REVOCATION}", "AssessmentRevoked")
        assert len(await read_stream_messages(nats.url, LEDGER_STREAM, subject, 1)) == 1

    # The issuer's revocations consumer (or reconciliation) cascades; the QualificationRevoked
    # it appends, relay off, never reaches the credentials consumer.
    async with (
        served_ledger(database_url, None, catalog=False) as quiet,
        running_issuer(quiet, database_url, nats.url, tmp_path, **EAGER, **PUBLIC_URL) as issuer,
    ):
        [revoked] = await issuer.wait_for(UNHEARD_REVOCATION, holds(CERTIFICATE, active=False))
        assert revoked["credential_id"] == credential["credential_id"]
        assert await status_bit_of(issuer, revoked)
        report = await issuer.verify(revoked["jwt"])
        assert not report["valid"]
        assert (report["signature"]["ok"], report["status"]["ok"]) == (True, False), report
        assert "revoked" in report["status"]["reason"], report
        assert await metric(issuer, f'{REPAIRS}{{kind="status_bit_set"}}') == 1
        assert (
            await metric(
                issuer, 'issuer_messages_total{consumer="issuer-credentials",outcome="revoked"}'
            )
            == 0
        )
        types = [a["type"] for a in await awards_in_log(quiet, UNHEARD_REVOCATION)]
        assert types == ["QualificationAwarded", "QualificationRevoked"]
        head = await head_of(quiet)

        async def checkpoint_at_head() -> bool:
            return await checkpoint(database_url) == head

        await eventually(checkpoint_at_head, "the checkpoint to reach the head")


async def test_the_log_filtered_by_type_pages_up_to_the_head(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        first, _ = await record_pass(ledger, FILTERED, NSTI, "CNC-FUND", "2026-03-01")
        second, _ = await record_pass(ledger, FILTERED, NSTI, "CNC-PROG", "2026-03-02")
        await revoke_pass(ledger, FILTERED, first)
        await record_pass(ledger, FILTERED, NSTI, "CNC-ADV", "2026-03-03")
        head = await head_of(ledger)
        types = ["AssessmentPassed", "AssessmentRevoked"]

        page = (await ledger.get("/v1/log", after_position=0, limit=2, type=types)).json()
        assert [e["type"] for e in page["events"]] == ["AssessmentPassed", "AssessmentPassed"]
        assert page["next_after_position"] == page["events"][-1]["position"]
        rest = (
            await ledger.get("/v1/log", after_position=page["next_after_position"], type=types)
        ).json()
        assert [e["type"] for e in rest["events"]] == ["AssessmentRevoked", "AssessmentPassed"]
        assert rest["events"][0]["data"]["assessment_id"] == first
        # A short page read everything of those types up to the head.
        assert rest["next_after_position"] == rest["head_position"] == head

        none = (await ledger.get("/v1/log", type="QualificationAwarded")).json()
        assert none == {"events": [], "next_after_position": head, "head_position": head}
        unfiltered = (await ledger.get("/v1/log", after_position=0, limit=1000)).json()
        assert len(unfiltered["events"]) == head
        assert {e["data"].get("assessment_id") for e in unfiltered["events"]} >= {first, second}

        response = await ledger.get("/v1/log", type="NoSuchEvent")
        assert response.status_code == 422
        assert response.json()["code"] == "unknown_event_type"
