"""The one ledger read client, against a real ledger on a loopback port."""

from __future__ import annotations

import pytest

from credit_ledger.demo_catalog import MICRO_CREDENTIALS
from credit_ledger.embedded.processes import free_port
from proto.envelope import Role
from proto.events import decode_event
from services.common import ledger_client
from services.common.ledger_client import LedgerClient, LedgerError
from tests.support.factories import CNC_LEARNER, NSTI, assessment_passed
from tests.support.ledger import served_ledger

pytestmark = pytest.mark.integration

CATALOG_EVENTS = 28


async def test_the_client_reads_the_head_pages_ranges_streams_and_the_catalog(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served_ledger(database_url) as ledger:
        for _ in range(3):
            response = await ledger.append(assessment_passed(), NSTI)
            assert response.status_code == 201, response.text
        client = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
        try:
            head = await client.head()
            assert head.position == CATALOG_EVENTS + 3

            page = await client.log_page(0, 5)
            assert [e.position for e in page.events] == [1, 2, 3, 4, 5]
            assert page.head_position == head.position

            # Ranges and streams are read in pages: small pages make several of them.
            monkeypatch.setattr(ledger_client, "PAGE_EVENTS_MAX", 2)
            ranged = await client.read_range(3, head.position)
            assert [e.position for e in ranged] == list(range(4, head.position + 1))
            learner = await client.stream(f"learner-{CNC_LEARNER}")
            assert [e.stream_version for e in learner] == [1, 2, 3]
            assert [e.stream_version for e in await client.stream(f"learner-{CNC_LEARNER}", 2)] == [
                3
            ]

            streamed = [e async for e in client.log_ndjson(CATALOG_EVENTS)]
            assert [e.position for e in streamed] == [CATALOG_EVENTS + i for i in (1, 2, 3)]
            raw = [e async for e in client.log_ndjson_raw(CATALOG_EVENTS)]
            assert [(e.position, e.stream, e.type, e.recorded_at) for e in raw] == [
                (e.position, e.stream, e.type, e.recorded_at) for e in streamed
            ]
            assert [decode_event(e.data) for e in raw] == [e.data for e in streamed]

            event = await client.event_at(CATALOG_EVENTS + 2)
            assert event is not None
            assert event.position == CATALOG_EVENTS + 2
            assert await client.event_at(head.position + 1) is None

            codes = await client.codes("micro-credentials")
            assert sorted(codes) == sorted(m.code for m in MICRO_CREDENTIALS)
            with pytest.raises(ValueError, match="no catalog of"):
                await client.definitions("institutions")

            with pytest.raises(LedgerError, match="no event after position") as short:
                await client.read_range(head.position, head.position + 1)
            assert short.value.code == "log_shorter_than_asked"
        finally:
            await client.close()


async def test_refusals_carry_the_ledger_problem_and_unknown_keys_are_none(
    database_url: str,
) -> None:
    async with served_ledger(database_url) as ledger:
        client = LedgerClient(ledger.base_url, await ledger.key(Role.AUDITOR))
        stranger = LedgerClient(ledger.base_url, "clk_0000000000000000_" + "A" * 43)
        try:
            whoami = await client.whoami(await ledger.key(Role.ISSUER))
            assert whoami is not None
            assert whoami.role == Role.ISSUER
            assert await client.whoami("clk_0000000000000000_" + "A" * 43) is None

            with pytest.raises(LedgerError) as refused:
                await stranger.head()
            assert refused.value.status == 401
            assert refused.value.transient  # an operator can fix a key: worth retrying

            with pytest.raises(LedgerError) as malformed:
                await client.log_page(-1, 10)
            assert 400 <= malformed.value.status < 500
            assert not malformed.value.transient

            with pytest.raises(LedgerError) as unknown:
                await stranger.log_ndjson(0).__anext__()
            assert unknown.value.status == 401
        finally:
            await client.close()
            await stranger.close()


async def test_an_unreachable_ledger_is_a_transient_error_with_status_zero() -> None:
    client = LedgerClient(f"http://127.0.0.1:{free_port()}", "clk_x", timeout_s=2)
    try:
        with pytest.raises(LedgerError) as unreachable:
            await client.head()
        assert unreachable.value.status == 0
        assert unreachable.value.code == "unreachable"
        assert unreachable.value.transient
        with pytest.raises(LedgerError) as streamed:
            await client.log_ndjson(0).__anext__()
        assert streamed.value.status == 0
    finally:
        await client.close()
