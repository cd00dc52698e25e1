"""The issuer's pages in a real headless Chromium with the network unplugged.

- With JavaScript off: a learner opens their passbook link, reads their record, follows
  their qualification's share link and stops the link; a forged link is refused.
- With JavaScript off: an employer opens a shared credential link, reads the verdict and
  the Open Graph preview, verifies it on the verify page by link and by its downloaded
  file, sees a tampered copy refused and a revoked credential said to be revoked.
- With JavaScript on (axe-core needs it): every page of the three services passes the
  WCAG 2.1 AA rules, each kept as a screenshot.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import asyncpg
import msgspec
import pytest
from playwright.async_api import Page

from proto.envelope import Role
from services.issuer.credentials.jws import b64url_decode, b64url_encode
from services.ledger.passbook_links import sign
from tests.support.browser import keep_screenshot, offline_page, wcag_violations
from tests.support.factories import ATI, NSTI
from tests.support.issued import HOLDER, Issued

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def _verdict(page: Page) -> str:
    return (await page.locator("#verdict_heading").inner_text()).strip()


@pytest.mark.timeout(180)
async def test_share_and_verify_without_javascript(issued: Issued, tmp_path: Path) -> None:
    link = f"{issued.issuer_url}{issued.path(issued.valid)}"
    async with offline_page(javascript=False) as browsing:
        page = browsing.page
        await page.goto(link)
        assert await _verdict(page) == "Genuine and in force"
        og_url = await page.locator('meta[property="og:url"]').get_attribute("content")
        assert og_url == link
        assert await page.get_by_label("Share link").input_value() == link
        await keep_screenshot(page, "credential-page")

        await page.get_by_role("link", name="verify page").click()
        assert await _verdict(page) == "Genuine and in force"

        header, payload, signature = issued.valid["jwt"].split(".")
        claims = json.loads(b64url_decode(payload))
        claims["creditsEarned"] = 999
        forged = f"{header}.{b64url_encode(msgspec.json.encode(claims))}.{signature}"
        await page.goto(f"{issued.issuer_url}/verify")
        await page.get_by_label("The credential's text", exact=False).fill(forged)
        await page.get_by_role("button", name="Verify", exact=True).click()
        assert await _verdict(page) == "Not valid"
        assert "999" not in await page.locator("main").inner_text()
        await keep_screenshot(page, "verify-tampered")

        downloaded = tmp_path / "credential.jwt"
        downloaded.write_text(issued.valid["jwt"])
        await page.get_by_label("or its file", exact=False).set_input_files(str(downloaded))
        await page.get_by_role("button", name="Verify", exact=True).click()
        assert await _verdict(page) == "Genuine and in force"

        await page.goto(f"{issued.issuer_url}{issued.path(issued.revoked)}")
        assert await _verdict(page) == "Revoked"
        assert "revoked it on" in await page.locator(".verdict").inner_text()
        await keep_screenshot(page, "credential-revoked")
    assert browsing.refused == []


@pytest.mark.timeout(180)
async def test_a_learner_opens_their_passbook_without_javascript(issued: Issued) -> None:
    link = await issued.ledger.passbook_link(HOLDER, NSTI)
    async with offline_page(javascript=False) as browsing:
        page = browsing.page
        await page.goto(f"{issued.issuer_url}/passbook?link={link['token']}")
        assert page.url == f"{issued.issuer_url}/passbook"  # the token left the address bar
        await page.get_by_role("heading", name="Your credits").wait_for()
        held = page.get_by_role("region", name="Your qualifications")
        assert "Advanced CNC Machining" in await held.inner_text()
        assert await held.get_by_role("img").count() == 1  # the share link's QR code
        await keep_screenshot(page, "passbook")
        # Printed, the record stays and the forms and links to manage it go.
        await page.emulate_media(media="print")
        assert await page.get_by_role("button", name="Sign out").is_hidden()
        assert await page.get_by_role("heading", name="Your history").is_visible()
        assert await page.get_by_role("heading", name="Who may read your whole record").is_hidden()
        await page.emulate_media(media="screen")
        await held.get_by_role("link", name="Its page").click()
        assert await _verdict(page) == "Genuine and in force"

        await page.goto(f"{issued.issuer_url}/passbook")
        await page.get_by_role("button", name="Stop this link from working").click()
        await page.get_by_role("heading", name="This link no longer works").wait_for()
        await page.goto(f"{issued.issuer_url}/passbook?link={link['token']}")
        await page.get_by_role("heading", name="This passbook link does not work").wait_for()
        await keep_screenshot(page, "passbook-refused")
        # A link past its end, and one signed with another key, are refused the same way.
        for token in await _expired_and_forged(issued, link["link_id"]):
            await page.goto(f"{issued.issuer_url}/passbook?link={token}")
            await page.get_by_role("heading", name="This passbook link does not work").wait_for()
    assert browsing.refused == []


@pytest.mark.timeout(180)
async def test_a_learner_grants_and_withdraws_consent_without_javascript(issued: Issued) -> None:
    link = await issued.ledger.passbook_link(HOLDER, NSTI)
    projector = issued.system.projector

    async def seen_by_ati() -> str | None:
        await projector.caught_up()
        bank = await projector.client.get(
            f"/v1/learners/{HOLDER}/credit-bank",
            headers=await issued.ledger.headers(Role.INSTITUTION, ATI),
        )
        return "whole" if bank.status_code == 200 and bank.json()["recorded_by"] is None else None

    assert await seen_by_ati() is None  # ATI recorded nothing of this learner's
    async with offline_page(javascript=False) as browsing:
        page = browsing.page
        await page.goto(f"{issued.issuer_url}/passbook?link={link['token']}")
        consent = page.get_by_role("region", name="Who may read your whole record")
        assert "Nobody else may read your whole record." in await consent.inner_text()
        await consent.get_by_label(
            "Let this institution or employer read my whole record"
        ).select_option(ATI)
        await consent.get_by_role("button", name="Grant").click()
        await page.get_by_role("button", name="Withdraw", exact=False).wait_for()
        await keep_screenshot(page, "passbook-consent-granted")
        assert await seen_by_ati() == "whole"

        await page.get_by_role("button", name="Withdraw", exact=False).click()
        consent = page.get_by_role("region", name="Who may read your whole record")
        await consent.get_by_text("Nobody else may read your whole record.").wait_for()
        assert await seen_by_ati() is None
    assert browsing.refused == []


async def _expired_and_forged(issued: Issued, link_id: str) -> list[str]:
    conn = await asyncpg.connect(issued.ledger.database_url)
    try:
        secret = bytes(await conn.fetchval("SELECT secret FROM ledger.passbook_link_keys"))
    finally:
        await conn.close()
    now = dt.datetime.now(dt.UTC)
    return [
        sign(secret, link_id, HOLDER, now - dt.timedelta(minutes=1)),
        sign(bytes(32), link_id, HOLDER, now + dt.timedelta(days=1)),
    ]


async def _sign_in_and_upload(page: Page, issued: Issued, results: Path) -> None:
    await page.goto(f"{issued.ledger.base_url.rstrip('/')}/upload")
    await page.get_by_label("Institution API key").fill(
        await issued.ledger.key(Role.INSTITUTION, NSTI)
    )
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("CSV file", exact=False).set_input_files(str(results))
    await page.get_by_role("button", name="Upload").click()
    await page.get_by_role("region", name="Report: results.csv").wait_for()


@pytest.mark.timeout(180)
async def test_every_page_meets_wcag_aa(issued: Issued, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text(
        "learner_id,micro_credential_code,assessment_id,assessed_on,mode\n"
        "852000000001,CNC-FUND,AXE-0001,2026-03-01,training\n"
        "852000000002,CNC-FUND,AXE-0002,2026-03-01,by-post\n"
    )
    ledger_url = issued.ledger.base_url.rstrip("/")
    projector_url = str(issued.system.projector.client.base_url).rstrip("/")
    pages = {
        "ledger-front": f"{ledger_url}/",
        "projector-front": f"{projector_url}/",
        "issuer-front": f"{issued.issuer_url}/",
        "credential": f"{issued.issuer_url}{issued.path(issued.valid)}",
        "credential-revoked": f"{issued.issuer_url}{issued.path(issued.revoked)}",
        "verify": f"{issued.issuer_url}/verify",
        "verify-result": f"{issued.issuer_url}/verify?credential={issued.valid['credential_id']}",
        "verify-refused": f"{issued.issuer_url}/verify?credential=https://elsewhere.example/x",
        "upload-sign-in": f"{ledger_url}/upload",
    }
    found: dict[str, list[str]] = {}
    async with offline_page() as browsing:
        page = browsing.page
        for name, url in pages.items():
            await page.goto(url)
            found[name] = await wcag_violations(page)
            await keep_screenshot(page, f"page-{name}")
        await page.goto(f"{issued.issuer_url}/passbook?link=clp_forged.link")
        found["passbook-refused"] = await wcag_violations(page)
        link = await issued.ledger.passbook_link(HOLDER, NSTI)
        await page.goto(f"{issued.issuer_url}/passbook?link={link['token']}")
        found["passbook"] = await wcag_violations(page)
        await keep_screenshot(page, "page-passbook")
        await _sign_in_and_upload(page, issued, results)
        found["upload-report"] = await wcag_violations(page)
        await keep_screenshot(page, "page-upload-report")
    assert {name: v for name, v in found.items() if v} == {}
    assert browsing.refused == []
