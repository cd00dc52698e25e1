"""Headless Chromium for page tests: Debian's ``chromium`` package, driven by Playwright for
Python (no browser download). A page can be cut off from the network: every request to a
host other than the loopback is refused and remembered, so a test sees whether a page
needed the internet."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page, Route, async_playwright

CHROMIUM = Path(os.environ.get("CREDIT_LEDGER_CHROMIUM", "/usr/bin/chromium"))
# Screenshots the page tests keep (make test leaves them here; git ignores the folder).
ARTIFACTS = Path(os.environ.get("CREDIT_LEDGER_TEST_ARTIFACTS", "test-artifacts"))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Browsing:
    page: Page
    refused: list[str] = field(default_factory=list)  # what the page asked of the internet


@contextlib.asynccontextmanager
async def offline_page(*, javascript: bool = True) -> AsyncIterator[Browsing]:
    """A new page of a headless Chromium that may reach only the loopback (and, with
    ``javascript=False``, runs no script: a page must work without)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium when it runs"
            " as root (apt-get install chromium); or set CREDIT_LEDGER_CHROMIUM"
        )
    async with async_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox will not start.
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(java_script_enabled=javascript)
            browsing = Browsing(await context.new_page())

            async def only_loopback(route: Route) -> None:
                if urlsplit(route.request.url).hostname in LOOPBACK_HOSTS:
                    await route.continue_()
                else:
                    browsing.refused.append(route.request.url)
                    await route.abort()

            await context.route("**/*", only_loopback)
            yield browsing
        finally:
            await browser.close()


async def keep_screenshot(page: Page, name: str) -> Path:
    """The page as a PNG among the test artefacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# The WCAG 2.1 levels A and AA rules of axe-core.
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


async def wcag_violations(page: Page) -> list[str]:
    """What axe-core finds against WCAG 2.1 AA on the page as it stands: one line per
    violated rule, with the elements that violate it."""
    results = await Axe().run(page, options=WCAG_AA)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + ", ".join(str(node["target"]) for node in v["nodes"])
        for v in results.response["violations"]
    ]
