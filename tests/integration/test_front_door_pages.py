"""Each service's front door in a real headless Chromium with the network unplugged: the
page at `/` and Swagger UI at `/schema/swagger`, whose assets the service serves itself,
with the operations grouped by tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import keep_screenshot, offline_page
from tests.support.servers import NatsHandle
from tests.support.system import running_system

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TAGS = {
    "ledger": ["events", "log", "catalog", "admin", "audit", "operations"],
    "projector": ["learners", "qualifications", "operations"],
    "issuer": ["verification", "credentials", "status lists", "keys", "operations"],
}
RENDER_TIMEOUT_MS = 20_000


@pytest.mark.timeout(180)
async def test_every_service_serves_its_docs_and_front_page_with_no_network(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with running_system(database_url, nats.url, tmp_path / "keys") as system:
        bases = {
            "ledger": system.ledger.base_url,
            "projector": str(system.projector.client.base_url),
            "issuer": str(system.issuer.client.base_url),
        }
        async with offline_page() as browsing:
            page = browsing.page
            for service, base in bases.items():
                base = base.rstrip("/")
                await page.goto(f"{base}/")
                assert await page.locator("h1").inner_text() != ""
                docs = page.get_by_role("link", name="API docs (Swagger UI)")
                await docs.click()
                await page.wait_for_url(f"{base}/schema/swagger")
                sections = page.locator(".opblock-tag-section .opblock-tag")
                await sections.first.wait_for(timeout=RENDER_TIMEOUT_MS)
                shown = [name.strip() for name in await sections.all_inner_texts()]
                assert [tag for tag in TAGS[service] if not any(tag in s for s in shown)] == []
                await keep_screenshot(page, f"swagger-{service}")
            assert browsing.refused == []
