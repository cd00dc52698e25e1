"""The upload page in a real headless Chromium with JavaScript off and the network
unplugged: a member of staff signs in with the institution's key, uploads a file with good,
bad and repeated rows, reads the report, uploads it again (duplicates, nothing written
twice) and signs out."""

from __future__ import annotations

from pathlib import Path

import pytest

from proto.envelope import Role
from tests.support.browser import keep_screenshot, offline_page
from tests.support.factories import NSTI
from tests.support.ledger import served_ledger

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROWS = [
    "learner_id,micro_credential_code,assessment_id,assessed_on,mode",
    "123456789012,CNC-FUND,WEB-0001,2026-03-01,training",
    "123456789013,CNC-FUND,WEB-0002,2026-03-01,rpl",
    "123456789014,CNC-FUND,WEB-0003,2026-03-01,by-post",  # no such mode
    "123456789012,CNC-FUND,WEB-0001,2026-03-01,training",  # the first row again
]


@pytest.mark.timeout(120)
async def test_staff_sign_in_upload_and_read_the_report(database_url: str, tmp_path: Path) -> None:
    results = tmp_path / "exam-cycle-1.csv"
    results.write_text("\n".join(ROWS) + "\n")
    async with served_ledger(database_url) as ledger, offline_page(javascript=False) as browsing:
        key = await ledger.key(Role.INSTITUTION, NSTI)
        page = browsing.page
        await page.goto(f"{ledger.base_url}/")
        await page.get_by_role("link", name="Upload results", exact=False).click()
        await page.get_by_label("Institution API key").fill(key)
        await keep_screenshot(page, "upload-sign-in")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_text(f"Signed in for {NSTI}").wait_for()
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["upload_session"]["httpOnly"]
        assert cookies["upload_session"]["secure"]
        assert key not in str(cookies)  # the browser never keeps the key itself

        await page.get_by_label("What the file holds").select_option("passes")
        await page.get_by_label("CSV file", exact=False).set_input_files(str(results))
        await page.get_by_role("button", name="Upload").click()
        report = page.get_by_role("region", name="Report: exam-cycle-1.csv")
        await report.wait_for()
        assert "2 invalid, 2 recorded" in await report.inner_text()
        outcomes = await report.locator("tbody tr td:nth-child(2)").all_inner_texts()
        assert outcomes == ["recorded", "recorded", "invalid", "invalid"]
        download = report.get_by_role("link", name="Download the report (CSV)")
        assert await download.get_attribute("download") == "exam-cycle-1.report.csv"
        await keep_screenshot(page, "upload-report")

        await page.get_by_label("CSV file", exact=False).set_input_files(str(results))
        await page.get_by_role("button", name="Upload").click()
        await page.get_by_text("2 duplicate, 2 invalid").wait_for()

        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_label("Institution API key").wait_for()
        assert "upload_session" not in {c["name"] for c in await page.context.cookies()}
        log = await ledger.get("/v1/log", Role.AUDITOR, type="AssessmentPassed")
        assert [e["data"]["assessment_id"] for e in log.json()["events"]] == [
            "WEB-0001",
            "WEB-0002",
        ]
    assert browsing.refused == []
