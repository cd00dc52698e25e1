"""Who may audit: the auditor reads everything and writes nothing; other roles cannot use the
audit endpoints; the public keys are public."""

from __future__ import annotations

import msgspec
import pytest

from proto.envelope import Role
from tests.support.factories import CNC_LEARNER, NSTI, append_body, assessment_passed
from tests.support.ledger import running_ledger

pytestmark = pytest.mark.integration

AUDIT_READS = [
    ("/v1/audit/tree-heads", {}),
    ("/v1/audit/tree-heads/latest", {}),
    ("/v1/audit/proofs/inclusion", {"position": 1, "tree_size": 1}),
    ("/v1/audit/proofs/consistency", {"from_size": 0, "to_size": 1}),
]


async def test_the_auditor_cannot_write_events(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        single = await ledger.post("/v1/events", append_body(assessment_passed()), Role.AUDITOR)
        batch = await ledger.post(
            "/v1/events/batch", {"events": [append_body(assessment_passed())]}, Role.AUDITOR
        )
        for response in (single, batch):
            assert response.status_code == 403, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        head = (await ledger.get("/v1/head", Role.AUDITOR)).json()
        assert head["position"] == 28  # the demo catalog only


@pytest.mark.parametrize("role", [Role.INSTITUTION, Role.ISSUER, Role.ADMIN])
async def test_other_roles_cannot_use_the_audit_endpoints(database_url: str, role: Role) -> None:
    async with running_ledger(database_url) as ledger:
        institution = NSTI if role is Role.INSTITUTION else None
        for path, params in AUDIT_READS:
            response = await ledger.get(path, role, institution, **params)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "forbidden"
        posted = await ledger.post("/v1/audit/tree-heads", None, role, institution)
        assert posted.status_code == 403


async def test_audit_endpoints_need_a_key_but_the_public_keys_do_not(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        for path, params in AUDIT_READS:
            response = await ledger.client.get(path, params=params)
            assert response.status_code == 401, path
        assert (await ledger.client.post("/v1/audit/tree-heads")).status_code == 401
        keys = await ledger.client.get("/v1/audit/keys")
        assert keys.status_code == 200
        assert msgspec.json.decode(keys.content) == {"keys": []}


async def test_the_auditor_reads_the_whole_log_and_any_learners_history(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        assert (await ledger.append(assessment_passed(), NSTI)).status_code == 201
        export = await ledger.get("/v1/log/ndjson", Role.AUDITOR, after_position=20)
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [msgspec.json.decode(line) for line in export.content.splitlines()]
        assert [line["position"] for line in lines] == list(range(21, 30))
        assert all(len(line["hash"]) == 64 for line in lines)
        resumed = await ledger.get(
            "/v1/log/ndjson", Role.AUDITOR, after_position=28, to_position=29
        )
        assert [msgspec.json.decode(line)["position"] for line in resumed.content.splitlines()] == [
            29
        ]
        history = await ledger.get(f"/v1/streams/learner-{CNC_LEARNER}", Role.AUDITOR)
        assert [e["position"] for e in history.json()["events"]] == [29]
