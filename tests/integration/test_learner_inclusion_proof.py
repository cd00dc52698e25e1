"""A learner's proof that their record is in the signed log, on real servers: the ledger's
bundle checks offline with `credit-ledger audit check-inclusion --bundle` (and a tampered
one does not), a learner asks only for their own, and the passbook offers it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from credit_ledger.audit_cli import check_bundle_command
from proto.envelope import Role
from services.ledger.audit.signing import create_key_file
from tests.support.factories import NSTI
from tests.support.projector import record_pass
from tests.support.servers import NatsHandle
from tests.support.system import System, running_system

pytestmark = pytest.mark.integration

LEARNER, OTHER = "950000000001", "950000000002"


@pytest.fixture
async def system(database_url: str, nats: NatsHandle, tmp_path: Path) -> AsyncIterator[System]:
    create_key_file(tmp_path / "tree.pem")
    async with running_system(
        database_url,
        nats.url,
        tmp_path / "keys",
        CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=str(tmp_path / "tree.pem"),
    ) as running:
        await record_pass(running.ledger, LEARNER, NSTI, "CNC-FUND", "2026-01-15")
        await record_pass(running.ledger, OTHER, NSTI, "CNC-FUND", "2026-01-15")
        yield running


async def _sign_a_head(system: System) -> None:
    signed = await system.ledger.client.post(
        "/v1/audit/tree-heads", headers=await system.ledger.headers(Role.AUDITOR)
    )
    assert signed.status_code == 201, signed.text


async def test_the_bundle_checks_offline_and_a_tampered_one_does_not(
    system: System, tmp_path: Path
) -> None:
    ledger = system.ledger
    headers = await ledger.learner_headers(LEARNER, NSTI)
    path = f"/v1/learners/{LEARNER}/inclusion-proof"
    assert (await ledger.client.get(path, headers=headers)).status_code == 404  # no head yet
    await _sign_a_head(system)
    answer = await ledger.client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["event"]["stream"] == f"learner-{LEARNER}"
    keys = tmp_path / "keys.json"
    keys.write_text((await ledger.client.get("/v1/audit/keys")).text)
    good = tmp_path / "proof.json"
    good.write_text(answer.text)
    out = io.StringIO()
    assert check_bundle_command(good, keys, out) == 0, out.getvalue()
    assert out.getvalue().startswith("ok: ")

    bundle["event"]["data"]["assessed_on"] = "2026-01-16"
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bundle))
    out = io.StringIO()
    assert check_bundle_command(bad, keys, out) == 1
    assert out.getvalue().startswith("FAILED: ")
    (tmp_path / "junk.json").write_text('{"event": 1}')
    assert check_bundle_command(tmp_path / "junk.json", keys, io.StringIO()) == 2


async def test_a_learner_asks_only_for_their_own(system: System) -> None:
    await _sign_a_head(system)
    ledger = system.ledger
    headers = await ledger.learner_headers(LEARNER, NSTI)
    theirs = await ledger.client.get(f"/v1/learners/{OTHER}/inclusion-proof", headers=headers)
    assert theirs.status_code == 404
    other_event = (await ledger.get(f"/v1/streams/learner-{OTHER}", Role.AUDITOR)).json()
    position = other_event["events"][0]["position"]
    not_mine = await ledger.client.get(
        f"/v1/learners/{LEARNER}/inclusion-proof", params={"position": position}, headers=headers
    )
    assert not_mine.status_code == 404
    institution = await ledger.get(
        f"/v1/learners/{LEARNER}/inclusion-proof", Role.INSTITUTION, NSTI
    )
    assert institution.status_code == 403
    assert (
        await ledger.get(f"/v1/learners/{LEARNER}/inclusion-proof", Role.AUDITOR)
    ).status_code == 200


async def test_the_passbook_offers_the_proof(system: System) -> None:
    await _sign_a_head(system)
    link = await system.ledger.passbook_link(LEARNER, NSTI)
    client = system.issuer.client
    arrival = await client.get("/passbook", params={"link": link["token"]})
    token = SimpleCookie(arrival.headers["set-cookie"])["passbook"].value
    cookie = {"Cookie": f"passbook={token}"}
    await system.projector.caught_up()
    page = await client.get("/passbook", headers=cookie)
    assert "check-inclusion --bundle" in page.text
    assert re.search(r"Your latest event, at log position \d+", page.text)
    download = await client.get("/passbook/proof.json", headers=cookie)
    assert download.status_code == 200
    assert download.json()["event"]["stream"] == f"learner-{LEARNER}"
    assert (await client.get("/passbook/proof.json")).status_code == 401
