"""A running projector for a test: the real app, its worker on the test's NATS, reading the
ledger over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from proto.envelope import Role
from services.projector.app import create_projector_app
from tests.support.ledger import Ledger, test_settings
from tests.support.serving import serve


class Projector:
    def __init__(self, client: httpx.AsyncClient, ledger: Ledger) -> None:
        self.client = client
        self.ledger = ledger

    async def get(
        self,
        path: str,
        role: Role = Role.AUDITOR,
        institution_id: str | None = None,
        **params: Any,
    ) -> httpx.Response:
        """GET as a key of ``role`` (of ``institution_id``, for an institution key)."""
        headers = await self.ledger.headers(role, institution_id)
        return await self.client.get(path, params=params, headers=headers)

    async def checkpoint(self) -> int:
        """The lowest partition checkpoint: every event up to it is applied."""
        body = (await self.client.get("/ready")).json()
        return int(body["checkpoint"])

    async def partition_checkpoints(self) -> dict[tuple[int, int], int]:
        body = (await self.client.get("/ready")).json()
        return {(p["partition"], p["partitions"]): p["checkpoint"] for p in body["partitions"]}

    async def caught_up(self, timeout_s: float = 30.0) -> int:
        """Wait until every partition's checkpoint is at the ledger head (a partition whose
        own events end before it gets there when its worker next idles); returns the head."""
        head = int((await self.ledger.get("/v1/head")).json()["position"])
        deadline = time.monotonic() + timeout_s
        while (done := await self.partition_checkpoints()) and min(done.values()) < head:
            if time.monotonic() > deadline:
                raise AssertionError(f"partition checkpoints {done}, ledger head {head}")
            await asyncio.sleep(0.05)
        return head

    async def get_json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        if response.status_code != 200:
            raise AssertionError(f"GET {path}: {response.status_code} {response.text}")
        return response.json()

    async def bank(self, learner_id: str, **as_of: Any) -> dict[str, Any]:
        response = await self.get(f"/v1/learners/{learner_id}/credit-bank", **as_of)
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    async def progress(self, learner_id: str, qualification: str, **as_of: Any) -> dict[str, Any]:
        response = await self.get(f"/v1/learners/{learner_id}/progress/{qualification}", **as_of)
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result


@contextlib.asynccontextmanager
async def running_projector(
    ledger: Ledger, database_url: str, nats_url: str, *, worker: bool = True, **overrides: str
) -> AsyncIterator[Projector]:
    """``worker=False``: the query API alone, applying nothing (its checkpoints stay put)."""
    key = await ledger.key(Role.AUDITOR)
    settings = test_settings(
        database_url,
        nats_url,
        CREDIT_LEDGER_LEDGER_URL=ledger.base_url,
        CREDIT_LEDGER_PROJECTOR_API_KEY=key,
        **overrides,
    )
    async with (
        serve(create_projector_app(settings, run_worker=worker)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        yield Projector(client, ledger)


async def metric_value(projector: Projector, name: str) -> float:
    """One unlabelled sample of the projector's /metrics (0 when it is not exposed yet)."""
    text = (await projector.client.get("/metrics")).text
    for line in text.splitlines():
        sample, _, value = line.partition(" ")
        if sample == name:
            return float(value)
    return 0.0


async def record_pass(
    ledger: Ledger,
    learner_id: str,
    institution_id: str,
    code: str,
    assessed_on: str,
    mode: str = "training",
) -> tuple[str, int]:
    """Append one assessment pass; returns its assessment id and log position."""
    from tests.support.factories import assessment_passed

    event = assessment_passed(
        learner_id=learner_id,
        institution_id=institution_id,
        code=code,
        mode=mode,
        assessed_on=assessed_on,
    )
    response = await ledger.append(event, institution_id)
    if response.status_code != 201:
        raise AssertionError(f"{code} not recorded: {response.status_code} {response.text}")
    return str(event["assessment_id"]), int(response.json()["position"])
