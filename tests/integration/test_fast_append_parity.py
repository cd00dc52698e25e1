"""``POST /v1/events`` answers the same with the fast path (http/fast_append.py) as without it.

Two ledgers on two fresh databases, one with the fast path and one leaving every request
to the Litestar route, get the same requests in the same order. Each answer must match:
status, media type, Retry-After, and the body, save the two fields that depend on the
clock (``recorded_at``, and ``hash``, which covers it). The requests cover what the fast
path answers itself (an append, a duplicate, an id reused with other content, refusals
from the write model and from the stateless checks, an expected-version conflict) and
what it hands on (no key, a bad key, a reader's key, malformed or invalid JSON, a body
over the limit), so that handing on is proven to lose nothing of the body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proto.envelope import Role
from tests.support.factories import CNC_LEARNER, IHM, NSTI, assessment_passed, new_id
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

CLOCK_FIELDS = ("recorded_at", "hash")
BODY_MAX_BYTES = 256 * 1024  # above the demo catalog batch that set-up loads


def _bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def requests() -> list[tuple[str, bytes, str | None]]:
    """(what, body, whose key: a role name, "none", "bad") in the order they are sent."""
    first = new_id()
    pass_a = {"event_id": first, "event": assessment_passed(assessment_id="PARITY-A")}
    other_content = {"event_id": first, "event": assessment_passed(assessment_id="PARITY-B")}
    return [
        ("an append", _bytes(pass_a), "institution"),
        ("the same append again", _bytes(pass_a), "institution"),
        ("its id with other content", _bytes(other_content), "institution"),
        (
            "an unknown micro-credential",
            _bytes({"event_id": new_id(), "event": assessment_passed(code="NO-SUCH-CODE")}),
            "institution",
        ),
        (
            "a malformed learner id",
            _bytes({"event_id": new_id(), "event": assessment_passed(learner_id="12-34")}),
            "institution",
        ),
        (
            "another institution's pass",
            _bytes({"event_id": new_id(), "event": assessment_passed(institution_id=IHM)}),
            "institution",
        ),
        (
            "a stale expected version",
            _bytes(
                {
                    "event_id": new_id(),
                    "event": assessment_passed(learner_id=CNC_LEARNER),
                    "expected_version": 7,
                }
            ),
            "institution",
        ),
        (
            "an append by the admin",
            _bytes({"event_id": new_id(), "event": assessment_passed()}),
            "admin",
        ),
        ("no key", _bytes({"event_id": new_id(), "event": assessment_passed()}), "none"),
        ("a bad key", _bytes({"event_id": new_id(), "event": assessment_passed()}), "bad"),
        (
            "an auditor's key",
            _bytes({"event_id": new_id(), "event": assessment_passed()}),
            "auditor",
        ),
        ("malformed JSON", b'{"event_id": "x", "event": {', "institution"),
        ("a missing field", _bytes({"event": assessment_passed()}), "institution"),
        (
            "an unknown event type",
            _bytes({"event_id": new_id(), "event": {"type": "Nope"}}),
            "institution",
        ),
        (
            "a body over the limit",
            _bytes(
                {"event_id": new_id(), "event": assessment_passed(), "pad": "x" * BODY_MAX_BYTES}
            ),
            "institution",
        ),
    ]


async def _headers(ledger: Ledger, whose: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if whose == "bad":
        headers["authorization"] = "Bearer not-a-key"
    elif whose == "institution":
        headers.update(await ledger.headers(Role.INSTITUTION, NSTI))
    elif whose == "admin":
        headers.update(await ledger.headers(Role.ADMIN))
    elif whose == "auditor":
        headers.update(await ledger.headers(Role.AUDITOR))
    return headers


async def _answer(ledger: Ledger, body: bytes, whose: str | None) -> dict[str, Any]:
    response = await ledger.client.post(
        "/v1/events", content=body, headers=await _headers(ledger, whose)
    )
    content: Any = response.json()
    if isinstance(content, dict):
        for name in CLOCK_FIELDS:
            if name in content:
                content[name] = "<clock>"
    return {
        "status": response.status_code,
        "type": response.headers.get("content-type", "").split(";")[0],
        "retry_after": response.headers.get("retry-after"),
        "has_request_id": bool(response.headers.get("x-request-id")),
        "body": content,
    }


@pytest.fixture
async def ledgers(
    database_url: str, other_database_url: str
) -> AsyncIterator[tuple[Ledger, Ledger]]:
    limit = str(BODY_MAX_BYTES)
    async with (
        running_ledger(database_url, CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES=limit) as fast,
        running_ledger(
            other_database_url, fast_append=False, CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES=limit
        ) as framework,
    ):
        yield fast, framework


async def test_the_fast_path_answers_as_the_route_does(ledgers: tuple[Ledger, Ledger]) -> None:
    fast, framework = ledgers
    statuses = []
    for what, body, whose in requests():
        expected = await _answer(framework, body, whose)
        answered = await _answer(fast, body, whose)
        assert answered == expected, what
        statuses.append(expected["status"])
    # The cases reach every kind of answer they are meant to (else the comparison is empty).
    assert statuses[:3] == [201, 200, 409]
    assert {401, 403, 413} <= set(statuses)
    assert any(400 <= s < 500 and s not in (401, 403, 413) for s in statuses[3:])


async def test_both_ledgers_recorded_the_same_log(ledgers: tuple[Ledger, Ledger]) -> None:
    fast, framework = ledgers
    for _, body, whose in requests():
        await _answer(framework, body, whose)
        await _answer(fast, body, whose)
    heads = [(await ledger.get("/v1/head")).json()["position"] for ledger in (fast, framework)]
    assert heads[0] == heads[1]
