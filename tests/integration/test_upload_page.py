"""The upload page over HTTP on a real ledger: sign-in, the session cookie, the form token,
and every kind of bad input (each answered with a page that says what is wrong, and nothing
written). The browser flow is ``test_upload_page_in_chromium``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from proto.envelope import Role
from services.ledger.api_keys import revoke_key
from tests.support.factories import NSTI
from tests.support.ledger import Ledger, served_ledger
from tests.support.upload_page import Staff

pytestmark = pytest.mark.integration

HEADER = "learner_id,micro_credential_code,assessment_id,assessed_on,mode"
GOOD = [
    "123456789012,CNC-FUND,UP-0001,2026-03-01,training",
    "123456789013,CNC-FUND,UP-0002,2026-03-01,rpl",
]
MAX_BYTES = 4096


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    async with served_ledger(database_url, CREDIT_LEDGER_UPLOAD_MAX_BYTES=str(MAX_BYTES)) as ledger:
        yield ledger


@pytest.fixture
async def staff(ledger: Ledger) -> AsyncIterator[Staff]:
    async with httpx.AsyncClient(base_url=ledger.base_url, timeout=30) as client:
        yield Staff(client)


async def _head(ledger: Ledger) -> int:
    position: int = (await ledger.get("/v1/head", Role.AUDITOR)).json()["position"]
    return position


async def _signed_in(ledger: Ledger, staff: Staff) -> None:
    response = await staff.sign_in(await ledger.key(Role.INSTITUTION, NSTI))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/upload"
    cookie = next(h for h in response.headers.get_list("set-cookie") if "upload_session=" in h)
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/upload"):
        assert attribute.lower() in cookie.lower()
    page = await staff.get()
    assert f"Signed in for <strong>{NSTI}</strong>" in page.text


async def test_signs_in_uploads_and_reports_each_row(ledger: Ledger, staff: Staff) -> None:
    page = await staff.get()
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<label for="api_key">' in page.text
    await _signed_in(ledger, staff)

    bad = "123456789014,CNC-FUND,UP-0003,2026-13-45,training"  # no such date
    unknown = "123456789015,NO-SUCH,UP-0004,2026-03-01,training"  # no such micro-credential
    response = await staff.upload(_csv(*GOOD, bad, unknown))
    assert response.status_code == 200, response.text
    assert "1 invalid, 2 recorded, 1 refused" in response.text
    rows = re.findall(
        r"<tr(?: class=\"bad\")?><td class=\"num\">(\d+)</td><td>(\w+)</td>", response.text
    )
    assert rows == [("2", "recorded"), ("3", "recorded"), ("4", "invalid"), ("5", "refused")]
    assert 'download="results.report.csv"' in response.text

    again = await staff.upload(_csv(*GOOD))
    assert "2 duplicate" in again.text
    corrected = await staff.upload(_csv("123456789012,CNC-PROG,UP-0001,2026-03-01,training"))
    assert "1 conflict" in corrected.text
    assert "event_id_conflict" in corrected.text


async def test_a_dry_run_records_nothing(ledger: Ledger, staff: Staff) -> None:
    await _signed_in(ledger, staff)
    before = await _head(ledger)
    response = await staff.upload(_csv(*GOOD), check=True)
    assert "2 checked" in response.text
    assert "nothing was recorded" in response.text
    assert await _head(ledger) == before


async def test_every_kind_of_file_is_taken(ledger: Ledger, staff: Staff) -> None:
    await _signed_in(ledger, staff)
    await staff.upload(_csv(GOOD[0]))
    # Out of order: the revocation of a pass that was never recorded is refused.
    revocations = b"assessment_id,learner_id,reason\nUP-0001,123456789012,wrong marks\nUP-9999,123456789012,none\n"
    response = await staff.upload(revocations, kind="revocations")
    assert "1 recorded, 1 refused" in response.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe\x00not utf-8", "not UTF-8"),
        (b"learner_id,assessment_id\n1,2\n", "lacks the column(s)"),
    ],
    ids=["not-utf8", "missing-columns"],
)
async def test_an_unreadable_file_changes_nothing(
    ledger: Ledger, staff: Staff, content: bytes, expected: str
) -> None:
    await _signed_in(ledger, staff)
    before = await _head(ledger)
    response = await staff.upload(content)
    assert response.status_code == 422
    assert expected in response.text
    assert await _head(ledger) == before


async def test_an_oversized_file_is_refused(ledger: Ledger, staff: Staff) -> None:
    await _signed_in(ledger, staff)
    before = await _head(ledger)
    response = await staff.upload(_csv(*GOOD * 200))
    assert response.status_code == 413
    assert "Split it into smaller files" in response.text
    assert await _head(ledger) == before


async def test_unknown_kind_or_no_file_is_a_422(ledger: Ledger, staff: Staff) -> None:
    await _signed_in(ledger, staff)
    assert (await staff.upload(_csv(*GOOD), kind="grades")).status_code == 422
    assert (await staff.post("/upload", {"kind": "passes"})).status_code == 422


async def test_sign_in_refuses_bad_keys(ledger: Ledger, staff: Staff) -> None:
    assert (await staff.sign_in("clk_0000000000000000_" + "x" * 43)).status_code == 401
    assert (await staff.sign_in("not a key")).status_code == 401
    admin = await staff.sign_in(await ledger.key(Role.ADMIN))
    assert admin.status_code == 403
    assert "institution" in admin.text
    assert "upload_session" not in staff.cookies


async def test_forms_from_elsewhere_are_refused(ledger: Ledger, staff: Staff) -> None:
    # Sign-in without the form's own token (a login planted by another site).
    await staff.get()
    staff.csrf = "forged"
    key = await ledger.key(Role.INSTITUTION, NSTI)
    assert (await staff.post("/upload/sign-in", {"api_key": key})).status_code == 403
    await _signed_in(ledger, staff)
    before = await _head(ledger)
    token, staff.csrf = staff.csrf, "forged"
    assert (await staff.upload(_csv(*GOOD))).status_code == 403
    staff.csrf = token
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert (await staff.post("/upload/sign-out", {}, headers=cross)).status_code == 403
    elsewhere = {"Origin": "https://evil.example"}
    files = {"file": ("results.csv", _csv(*GOOD), "text/csv")}
    response = await staff.post("/upload", {"kind": "passes"}, files=files, headers=elsewhere)
    assert response.status_code == 403
    assert await _head(ledger) == before


async def test_a_session_ends_on_sign_out_and_with_its_key(ledger: Ledger, staff: Staff) -> None:
    await _signed_in(ledger, staff)
    token = staff.cookies["upload_session"]
    signed_out = await staff.post("/upload/sign-out", {})
    assert signed_out.status_code == 303
    assert "upload_session" not in staff.cookies
    staff.cookies["upload_session"] = token  # a copy of the old cookie is worth nothing
    assert (await staff.upload(_csv(*GOOD))).status_code == 401

    await _signed_in(ledger, staff)
    key_id = ledger.keys[f"{Role.INSTITUTION}:{NSTI}"].split("_")[1]
    conn = await asyncpg.connect(ledger.database_url)
    try:
        assert await revoke_key(conn, key_id)
    finally:
        await conn.close()
    before = await _head(ledger)
    response = await staff.upload(_csv(*GOOD))
    assert response.status_code == 401
    assert "Sign in again" in response.text
    assert await _head(ledger) == before
