"""A result-season file through the upload page: 20,000 rows in one upload, every one
recorded once, in batches within the API's limits, and a second upload of the same file
writes nothing."""

from __future__ import annotations

import httpx
import pytest

from proto.envelope import Role
from tests.support.factories import NSTI
from tests.support.ledger import Ledger, served_ledger
from tests.support.upload_page import Staff

pytestmark = pytest.mark.integration

ROWS = 20_000
HEADER = "learner_id,micro_credential_code,assessment_id,assessed_on,mode"


@pytest.mark.timeout(300)
async def test_a_big_file_is_recorded_once(database_url: str) -> None:
    lines = [HEADER] + [
        f"{100000000000 + n:012d},CNC-FUND,BIG-{n:06d},2026-03-01,training" for n in range(ROWS)
    ]
    content = ("\n".join(lines) + "\n").encode()
    async with (
        served_ledger(database_url, CREDIT_LEDGER_BATCH_EVENTS_MAX="500") as ledger,
        httpx.AsyncClient(base_url=ledger.base_url, timeout=120) as client,
    ):
        staff = Staff(client)
        await staff.sign_in(await ledger.key(Role.INSTITUTION, NSTI))
        await staff.get()
        before = await _head(ledger)
        first = await staff.upload(content)
        assert first.status_code == 200
        assert f"<strong>{ROWS} recorded</strong>" in first.text
        assert "The first 2000 of 20000 rows" in first.text
        assert await _head(ledger) == before + ROWS
        again = await staff.upload(content)
        assert f"<strong>{ROWS} duplicate</strong>" in again.text
        assert await _head(ledger) == before + ROWS


async def _head(ledger: Ledger) -> int:
    position: int = (await ledger.get("/v1/head", Role.AUDITOR)).json()["position"]
    return position
