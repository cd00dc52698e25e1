"""A client that sends a whole body before reading the answer always gets the answer.

urllib writes the entire request (with "Connection: close") before it reads a byte of the
response. When the server answers early (413 on the announced length, 401 before the body)
and closes with the rest of the body unread, the kernel resets the connection and the client
loses the answer. The server reads and discards the rest of the body first (bounded).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from proto.envelope import Role
from services.common.http.request_id import DRAIN_MAX_BYTES
from tests.support.ledger import served_ledger

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
TRIES = 20
# Far more than the loopback socket buffers hold, so the client is still writing when the
# answer is ready; within what the server drains.
LARGE = 8 * 1024 * 1024
assert LARGE < DRAIN_MAX_BYTES


def _post(url: str, body: bytes, key: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 (a loopback http URL)
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _body(size: int) -> bytes:
    return b'{"pad": "' + b"x" * size + b'"}'


@pytest.mark.parametrize("size", [LIMIT + 1, 40 * LIMIT, LARGE])
async def test_an_oversized_body_gets_413_every_time(database_url: str, size: int) -> None:
    async with served_ledger(
        database_url, catalog=False, CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES=str(LIMIT)
    ) as ledger:
        key = await ledger.key(Role.ADMIN)
        url, body = f"{ledger.base_url}/v1/events", _body(size)
        answers = [await asyncio.to_thread(_post, url, body, key) for _ in range(TRIES)]
        assert (await ledger.get("/v1/head")).json()["position"] == 0
    assert [status for status, _ in answers] == [413] * TRIES
    assert {problem["code"] for _, problem in answers} == {"body_too_large"}


async def test_a_large_body_with_a_bad_key_gets_401_every_time(database_url: str) -> None:
    async with served_ledger(database_url, catalog=False) as ledger:
        url, body = f"{ledger.base_url}/v1/events", _body(LARGE)
        answers = [await asyncio.to_thread(_post, url, body, "nope") for _ in range(TRIES)]
    assert [status for status, _ in answers] == [401] * TRIES
    assert {problem["code"] for _, problem in answers} == {"unauthenticated"}
