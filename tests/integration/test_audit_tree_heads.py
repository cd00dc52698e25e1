"""The transparency log on a running ledger: the tree follows the log, heads are signed on
demand and periodically, and every event's inclusion and every head's consistency prove out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from proto.canonical import GENESIS_HASH
from proto.envelope import Role
from services.ledger.audit.offline import check_consistency, check_inclusion
from services.ledger.audit.schemas import (
    ConsistencyProof,
    InclusionProof,
    JsonWebKeySet,
    StoredTreeHead,
)
from services.ledger.audit.signing import create_key_file
from tests.support.factories import NSTI, assessment_passed
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "tree-signing-key.pem"
    create_key_file(path)
    return path


async def append_passes(ledger: Ledger, count: int) -> None:
    for _ in range(count):
        response = await ledger.append(assessment_passed(), NSTI)
        assert response.status_code == 201, response.text


async def sign_head(ledger: Ledger) -> StoredTreeHead:
    response = await ledger.post("/v1/audit/tree-heads", None, Role.AUDITOR)
    assert response.status_code == 201, response.text
    return msgspec.json.decode(response.content, type=StoredTreeHead)


async def jwks(ledger: Ledger) -> JsonWebKeySet:
    response = await ledger.client.get("/v1/audit/keys")  # public: no key sent
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=JsonWebKeySet)


async def log_events(ledger: Ledger) -> list[dict[str, Any]]:
    response = await ledger.get("/v1/log", Role.AUDITOR, limit=1000)
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def built_to(ledger: Ledger, tree_size: int) -> None:
    # Yield between requests: the test client serves a request without yielding, so a
    # builder in this event loop runs only while we sleep.
    deadline = time.monotonic() + 10
    path = "/v1/audit/proofs/consistency"
    while (await ledger.get(path, Role.AUDITOR, from_size=0, to_size=tree_size)).status_code != 200:
        assert time.monotonic() < deadline, f"the tree never reached {tree_size} leaves"
        await asyncio.sleep(0.05)


async def test_a_head_signed_on_demand_proves_every_event_is_in_the_log(
    database_url: str, key_file: Path
) -> None:
    async with running_ledger(
        database_url, CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file)
    ) as ledger:
        await append_passes(ledger, 5)
        head = await sign_head(ledger)
        events = await log_events(ledger)
        assert head.tree_size == len(events) == events[-1]["position"]
        keys = await jwks(ledger)
        assert [k["kid"] for k in keys.keys] == [head.key_id]
        previous = GENESIS_HASH
        for event in events:
            response = await ledger.get(
                "/v1/audit/proofs/inclusion",
                Role.AUDITOR,
                position=event["position"],
                tree_size=head.tree_size,
            )
            assert response.status_code == 200, response.text
            proof = msgspec.json.decode(response.content, type=InclusionProof)
            assert proof.root_hash == head.root_hash
            verdict = check_inclusion(head, proof, event, previous, keys)
            assert verdict.ok, verdict.reason
            previous = bytes.fromhex(event["hash"])


async def test_every_later_head_is_consistent_with_every_earlier_one(
    database_url: str, key_file: Path
) -> None:
    async with running_ledger(
        database_url, CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file)
    ) as ledger:
        heads = [await sign_head(ledger)]
        for count in (1, 3, 8):
            await append_passes(ledger, count)
            heads.append(await sign_head(ledger))
        keys = await jwks(ledger)
        for old in heads:
            for new in heads:
                if old.tree_size > new.tree_size:
                    continue
                response = await ledger.get(
                    "/v1/audit/proofs/consistency",
                    Role.AUDITOR,
                    from_size=old.tree_size,
                    to_size=new.tree_size,
                )
                assert response.status_code == 200, response.text
                proof = msgspec.json.decode(response.content, type=ConsistencyProof)
                verdict = check_consistency(old, new, proof, keys)
                assert verdict.ok, verdict.reason

        page = (await ledger.get("/v1/audit/tree-heads", Role.AUDITOR, limit=3)).json()
        assert [h["head_id"] for h in page["tree_heads"]] == [h.head_id for h in heads[:3]]
        rest = await ledger.get(
            "/v1/audit/tree-heads", Role.AUDITOR, after_head_id=page["next_after_head_id"]
        )
        assert [h["head_id"] for h in rest.json()["tree_heads"]] == [heads[3].head_id]
        latest = await ledger.get("/v1/audit/tree-heads/latest", Role.AUDITOR)
        assert msgspec.json.decode(latest.content, type=StoredTreeHead) == heads[-1]


async def test_heads_are_signed_periodically_only_while_the_tree_grows(
    database_url: str, key_file: Path
) -> None:
    async with running_ledger(
        database_url,
        CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file),
        CREDIT_LEDGER_TREE_HEAD_INTERVAL_S="0.2",
    ) as ledger:
        await append_passes(ledger, 2)
        head_position = (await ledger.get("/v1/head", Role.AUDITOR)).json()["position"]
        deadline = time.monotonic() + 10
        while True:
            latest = await ledger.get("/v1/audit/tree-heads/latest", Role.AUDITOR)
            if latest.status_code == 200 and latest.json()["tree_size"] == head_position:
                break
            assert time.monotonic() < deadline, "no periodic head covered the log"
            await asyncio.sleep(0.05)
        signed = (await ledger.get("/v1/audit/tree-heads", Role.AUDITOR)).json()["tree_heads"]
        await asyncio.sleep(0.6)  # three intervals with nothing appended
        again = (await ledger.get("/v1/audit/tree-heads", Role.AUDITOR)).json()["tree_heads"]
        assert again == signed
        metrics = (await ledger.client.get("/metrics")).text
        assert f"ledger_audit_tree_size {float(head_position)}" in metrics
        assert "ledger_audit_chain_mismatches_total 0.0" in metrics


async def test_proof_requests_outside_the_tree_are_refused_with_problems(
    database_url: str, key_file: Path
) -> None:
    async with running_ledger(
        database_url, CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file)
    ) as ledger:
        size = (await sign_head(ledger)).tree_size
        cases: list[tuple[str, dict[str, Any], int, str]] = [
            (
                "/v1/audit/proofs/inclusion",
                {"position": size + 1, "tree_size": size},
                422,
                "position_outside_tree",
            ),
            (
                "/v1/audit/proofs/inclusion",
                {"position": 1, "tree_size": size + 5},
                404,
                "tree_size_unknown",
            ),
            (
                "/v1/audit/proofs/inclusion",
                {"position": 0, "tree_size": size},
                422,
                "invalid_parameter",
            ),
            (
                "/v1/audit/proofs/inclusion",
                {"position": "one", "tree_size": size},
                422,
                "invalid_parameter",
            ),
            (
                "/v1/audit/proofs/consistency",
                {"from_size": 3, "to_size": 2},
                422,
                "sizes_out_of_order",
            ),
            (
                "/v1/audit/proofs/consistency",
                {"from_size": 1, "to_size": size + 1},
                404,
                "tree_size_unknown",
            ),
            ("/v1/audit/tree-heads", {"limit": 0}, 422, "invalid_parameter"),
        ]
        for path, params, status, code in cases:
            response = await ledger.get(path, Role.AUDITOR, **params)
            assert response.status_code == status, (path, params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == code, response.text


async def test_without_a_signing_key_the_tree_is_built_but_no_head_is_signed(
    database_url: str,
) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.post("/v1/audit/tree-heads", None, Role.AUDITOR)
        assert response.status_code == 503
        assert response.json()["code"] == "tree_signing_disabled"
        assert (await jwks(ledger)).keys == []
        latest = await ledger.get("/v1/audit/tree-heads/latest", Role.AUDITOR)
        assert latest.status_code == 404
        await built_to(ledger, 28)


async def test_the_tree_can_be_built_outside_the_ledgers_process(
    database_url: str, key_file: Path
) -> None:
    from credit_ledger.audit_cli import build_tree_command
    from services.common.settings import load_settings

    async with running_ledger(
        database_url,
        CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(key_file),
        CREDIT_LEDGER_TREE_BUILDER_ENABLED="false",
    ) as ledger:
        await append_passes(ledger, 2)
        settings = load_settings({"CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": str(key_file)})
        builder = asyncio.create_task(build_tree_command(settings.audit, database_url))
        try:
            await built_to(ledger, 30)
            head = await sign_head(ledger)
        finally:
            builder.cancel()
            await asyncio.gather(builder, return_exceptions=True)
        assert head.tree_size == 30
