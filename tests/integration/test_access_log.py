"""Refusals are answered and logged like any other answer: a 401 carries X-Request-ID and its
access line says 401, in the ledger, the projector and the issuer alike."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from tests.support.factories import CNC_LEARNER
from tests.support.issuer import running_issuer
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

NO_KEY: dict[str, str] = {}
UNKNOWN_KEY = {"Authorization": f"Bearer clk_{'0' * 16}_{'A' * 43}"}
BAD_KEY = {"Authorization": "Bearer clk_this-key-is-malformed"}
NOT_BEARER = {"Authorization": "Basic dXNlcjpwYXNz"}


def _access_lines(
    logs: list[MutableMapping[str, Any]], request_id: str
) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "request" and e.get("request_id") == request_id]


async def _refused_and_logged(client: httpx.AsyncClient, path: str) -> None:
    for headers in (NO_KEY, UNKNOWN_KEY, BAD_KEY, NOT_BEARER):
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            response = await client.get(path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["code"] == "unauthenticated"
        request_id = response.headers.get("x-request-id")
        assert request_id, response.headers
        lines = _access_lines(logs, request_id)
        assert [(line["status"], line["path"], line["method"]) for line in lines] == [
            (401, path, "GET")
        ], logs
    # An id the caller offers is the one answered and logged.
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await client.get(path, headers={**BAD_KEY, "X-Request-ID": "trace-401.a"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-401.a"
    assert [line["status"] for line in _access_lines(logs, "trace-401.a")] == [401]


async def test_the_ledger_logs_a_401_as_401_with_a_request_id(database_url: str) -> None:
    async with served_ledger(database_url, catalog=False) as ledger:
        await _refused_and_logged(ledger.client, "/v1/head")
        # The router's own refusals pass through the same layer.
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            response = await ledger.client.get("/v1/no-such-route")
        assert response.status_code == 404
        lines = _access_lines(logs, response.headers["x-request-id"])
        assert [line["status"] for line in lines] == [404]


async def test_the_projector_logs_a_401_as_401_with_a_request_id(
    database_url: str, nats: NatsHandle
) -> None:
    async with (
        served_ledger(database_url, nats.url, catalog=False) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        await _refused_and_logged(projector.client, f"/v1/learners/{CNC_LEARNER}/credit-bank")


async def test_the_issuer_logs_a_401_as_401_with_a_request_id(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url, catalog=False) as ledger,
        running_issuer(ledger, database_url, nats.url, tmp_path) as issuer,
    ):
        await _refused_and_logged(issuer.client, f"/v1/learners/{CNC_LEARNER}/credentials")
