"""A running ledger for a test: the real app on the test's database and NATS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from litestar.testing import AsyncTestClient

from proto.envelope import Role
from services.common.settings import Settings, load_settings
from services.ledger.api_keys import create_key
from services.ledger.app import create_app
from tests.support.factories import catalog_batch
from tests.support.serving import serve


def test_settings(database_url: str, nats_url: str | None, **overrides: str) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url or "",
        "CREDIT_LEDGER_RELAY_ENABLED": "true" if nats_url else "false",
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
        **overrides,
    }
    return load_settings(env)


class Ledger:
    """The HTTP client of a running ledger, with keys for each role."""

    def __init__(self, client: AsyncTestClient[Any] | httpx.AsyncClient, database_url: str) -> None:
        self.client = client
        self.database_url = database_url
        self.keys: dict[str, str] = {}
        self.base_url = "http://testserver.local"

    async def key(self, role: Role, institution_id: str | None = None) -> str:
        name = f"{role}:{institution_id or '-'}"
        if name not in self.keys:
            conn = await asyncpg.connect(self.database_url)
            try:
                self.keys[name] = (
                    await create_key(conn, role=role, name=name, institution_id=institution_id)
                ).token
            finally:
                await conn.close()
        return self.keys[name]

    async def passbook_link(
        self, learner_id: str, institution_id: str | None = None, **body: Any
    ) -> dict[str, Any]:
        """A new passbook link of ``learner_id``, asked for by ``institution_id`` (by an
        admin when None): its id, token, url and end."""
        role = Role.ADMIN if institution_id is None else Role.INSTITUTION
        response = await self.post(
            f"/v1/learners/{learner_id}/passbook-links", body, role, institution_id
        )
        if response.status_code != 201:
            raise AssertionError(f"no passbook link: {response.status_code} {response.text}")
        link: dict[str, Any] = response.json()
        return link

    async def learner_headers(
        self, learner_id: str, institution_id: str | None = None
    ) -> dict[str, str]:
        """A learner's own credentials: a passbook link's token (one per learner, reused)."""
        name = f"learner:{learner_id}"
        if name not in self.keys:
            self.keys[name] = (await self.passbook_link(learner_id, institution_id))["token"]
        return {"Authorization": f"Bearer {self.keys[name]}"}

    async def headers(self, role: Role, institution_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.key(role, institution_id)}"}

    async def post(
        self, path: str, body: Any, role: Role = Role.ADMIN, institution_id: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            path, json=body, headers=await self.headers(role, institution_id)
        )

    async def get(
        self, path: str, role: Role = Role.ADMIN, institution_id: str | None = None, **params: Any
    ) -> httpx.Response:
        return await self.client.get(
            path, params=params, headers=await self.headers(role, institution_id)
        )

    async def append(
        self, event: dict[str, Any], institution_id: str, **extra: Any
    ) -> httpx.Response:
        from tests.support.factories import append_body

        return await self.post(
            "/v1/events", append_body(event, **extra), Role.INSTITUTION, institution_id
        )

    async def load_catalog(self) -> None:
        response = await self.post("/v1/events/batch", catalog_batch())
        if response.status_code != 201:
            raise AssertionError(f"catalog not loaded: {response.status_code} {response.text}")


@contextlib.asynccontextmanager
async def running_ledger(
    database_url: str,
    nats_url: str | None = None,
    *,
    catalog: bool = True,
    fast_append: bool = True,
    **overrides: str,
) -> AsyncIterator[Ledger]:
    app = create_app(test_settings(database_url, nats_url, **overrides), fast_append=fast_append)
    async with AsyncTestClient(app=app, timeout=30) as client:
        ledger = Ledger(client, database_url)
        if catalog:
            await ledger.load_catalog()
        yield ledger


@contextlib.asynccontextmanager
async def served_ledger(
    database_url: str, nats_url: str | None = None, *, catalog: bool = True, **overrides: str
) -> AsyncIterator[Ledger]:
    """The ledger on a real loopback port, for services that call it over HTTP."""
    async with (
        serve(create_app(test_settings(database_url, nats_url, **overrides))) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        ledger = Ledger(client, database_url)
        ledger.base_url = base_url
        if catalog:
            await ledger.load_catalog()
        yield ledger
