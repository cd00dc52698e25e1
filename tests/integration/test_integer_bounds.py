"""Integers past what the database holds are a 422 naming the parameter, never a 500.

A position, version or tree size is a PostgreSQL bigint and a status-list id an integer:
one more than their largest value used to reach the driver and overflow (500), or, on
the NDJSON export, to abort a body already begun with 200.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from proto.envelope import Role
from services.common.http.bounds import BIGINT_MAX, INTEGER_MAX
from tests.support.factories import CNC_LEARNER
from tests.support.ledger import served_ledger
from tests.support.servers import NatsHandle
from tests.support.system import running_system

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"
PAST_BIGINT = str(BIGINT_MAX + 1)


def _assert_names(response: httpx.Response, parameter: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 422
    assert problem["code"] == "invalid_parameter", problem
    assert problem["title"] == "Invalid parameter"
    assert problem["detail"].startswith(f"{parameter}: "), problem


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/log", "after_position"),
        ("/v1/log/ndjson", "after_position"),
        ("/v1/log/ndjson", "to_position"),
        (f"/v1/streams/learner-{CNC_LEARNER}", "after_version"),
    ],
)
async def test_ledger_reads_bound_positions_and_versions(
    database_url: str, path: str, parameter: str
) -> None:
    async with served_ledger(database_url, catalog=False) as ledger:
        for role in (Role.ADMIN, Role.AUDITOR):
            response = await ledger.get(path, role, **{parameter: PAST_BIGINT})
            _assert_names(response, parameter)
        # The largest value itself is in range: an empty answer, not an error.
        response = await ledger.get(path, Role.ADMIN, **{parameter: str(BIGINT_MAX)})
        assert response.status_code == 200, response.text


async def test_an_institution_key_gets_the_same_bound(database_url: str) -> None:
    async with served_ledger(database_url) as ledger:
        response = await ledger.get(
            f"/v1/streams/learner-{CNC_LEARNER}",
            Role.INSTITUTION,
            "NSTI-CHENNAI",
            after_version=PAST_BIGINT,
        )
        _assert_names(response, "after_version")


async def test_projector_and_issuer_bound_their_integers(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with running_system(database_url, nats.url, tmp_path) as system:
        response = await system.projector.get(
            f"/v1/learners/{CNC_LEARNER}/credit-bank", as_of_position=PAST_BIGINT
        )
        _assert_names(response, "as_of_position")
        response = await system.issuer.client.get(f"/v1/status-lists/{INTEGER_MAX + 1}")
        _assert_names(response, "list_id")
