"""Passbook links on real servers: who may ask for one, what it lets the learner read (their
own record on every service, nothing else), and every way a link stops working: expiry,
forgery, and revocation by its requester, an admin or the learner."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from proto.envelope import Role
from services.ledger.passbook_links import sign
from tests.support.factories import ATI, NSTI
from tests.support.ledger import Ledger
from tests.support.projector import record_pass
from tests.support.servers import NatsHandle
from tests.support.system import System, running_system

pytestmark = pytest.mark.integration

LEARNER, STRANGER = "930000000001", "930000000002"


@pytest.fixture
async def system(database_url: str, nats: NatsHandle, tmp_path: Path) -> AsyncIterator[System]:
    # A revoked link stops at once (no cache), so the test need not wait out a TTL.
    async with running_system(
        database_url, nats.url, tmp_path / "keys", CREDIT_LEDGER_API_KEY_CACHE_TTL_S="0"
    ) as running:
        await record_pass(running.ledger, LEARNER, NSTI, "CNC-FUND", "2026-01-15")
        await record_pass(running.ledger, STRANGER, ATI, "CNC-FUND", "2026-01-15")
        await running.projector.caught_up()
        yield running


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_link_lets_the_learner_read_their_own_record_only(system: System) -> None:
    ledger, projector, issuer = system.ledger, system.projector, system.issuer
    link = await ledger.passbook_link(LEARNER, NSTI)
    assert link["url"].endswith(f"/passbook?link={link['token']}")
    headers = _bearer(link["token"])
    who = (await ledger.client.get("/v1/whoami", headers=headers)).json()
    assert who == {
        "role": "learner",
        "key_id": f"link-{link['link_id']}",
        "institution_id": None,
        "learner_id": LEARNER,
    }

    own = await ledger.client.get(f"/v1/streams/learner-{LEARNER}", headers=headers)
    assert own.status_code == 200
    assert [e["type"] for e in own.json()["events"]] == ["AssessmentPassed"]
    event_id = own.json()["events"][0]["event_id"]
    assert (await ledger.client.get(f"/v1/events/{event_id}", headers=headers)).status_code == 200
    other = await ledger.client.get(f"/v1/streams/learner-{STRANGER}", headers=headers)
    assert other.status_code == 403
    assert (await ledger.client.get("/v1/log", headers=headers)).status_code == 403

    bank = await projector.client.get(f"/v1/learners/{LEARNER}/credit-bank", headers=headers)
    assert bank.status_code == 200
    assert bank.json()["recorded_by"] is None  # the whole bank: it is the learner's own
    elsewhere = await projector.client.get(f"/v1/learners/{STRANGER}/credit-bank", headers=headers)
    assert elsewhere.status_code == 404
    mine = await issuer.client.get(f"/v1/learners/{LEARNER}/credentials", headers=headers)
    assert mine.status_code == 200
    theirs = await issuer.client.get(f"/v1/learners/{STRANGER}/credentials", headers=headers)
    assert theirs.status_code == 404


async def test_a_learner_writes_nothing_and_holds_no_api_key(system: System) -> None:
    ledger = system.ledger
    headers = await ledger.learner_headers(LEARNER, NSTI)
    key = await ledger.client.post(
        "/v1/admin/api-keys", json={"role": "auditor", "name": "x"}, headers=headers
    )
    assert key.status_code == 403
    as_admin = await ledger.post("/v1/admin/api-keys", {"role": "learner", "name": "x"})
    assert as_admin.status_code == 422
    assert "passbook link" in as_admin.json()["detail"]
    link = await ledger.client.post(
        f"/v1/learners/{LEARNER}/passbook-links", json={}, headers=headers
    )
    assert link.status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"valid_days": 0}, 422),
        ({"valid_days": 31}, 422),
        ({"valid_days": "x"}, 422),
        ({"valid_for": 3}, 422),
    ],
    ids=["zero-days", "over-30-days", "not-a-number", "unknown-field"],
)
async def test_a_bad_request_for_a_link_is_refused(
    system: System, body: dict[str, object], status: int
) -> None:
    before = await _links(system.ledger)
    response = await system.ledger.post(
        f"/v1/learners/{LEARNER}/passbook-links", body, Role.INSTITUTION, NSTI
    )
    assert response.status_code == status, response.text
    assert await _links(system.ledger) == before


async def test_only_an_institution_that_recorded_the_learner_may_ask(system: System) -> None:
    ledger = system.ledger
    other = await ledger.post(f"/v1/learners/{LEARNER}/passbook-links", {}, Role.INSTITUTION, ATI)
    assert other.status_code == 404
    nobody = await ledger.post(
        "/v1/learners/939999999999/passbook-links", {}, Role.INSTITUTION, NSTI
    )
    assert nobody.status_code == 404
    bad = await ledger.post("/v1/learners/not-a-learner/passbook-links", {})
    assert bad.status_code == 422
    malformed = await ledger.client.post(
        f"/v1/learners/{LEARNER}/passbook-links",
        content=b"{not json",
        headers={**await ledger.headers(Role.ADMIN), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert (await ledger.post(f"/v1/learners/{LEARNER}/passbook-links", {})).status_code == 201


async def test_expired_and_forged_links_are_refused(system: System) -> None:
    ledger = system.ledger
    link = await ledger.passbook_link(LEARNER, NSTI)
    conn = await asyncpg.connect(ledger.database_url)
    try:
        secret = bytes(await conn.fetchval("SELECT secret FROM ledger.passbook_link_keys"))
    finally:
        await conn.close()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    expired = sign(secret, link["link_id"], LEARNER, past)
    forged_learner = sign(b"\0" * 32, link["link_id"], STRANGER, past + dt.timedelta(days=2))
    payload, _, mac = link["token"].partition(".")
    tampered = f"{payload}.{mac[::-1]}"
    for token in (expired, forged_learner, tampered, "clp_", "clp_x.y"):
        who = await ledger.client.get("/v1/whoami", headers=_bearer(token))
        assert who.status_code == 401, token
    assert (
        await ledger.client.get("/v1/whoami", headers=_bearer(link["token"]))
    ).status_code == 200


async def test_requester_admin_and_learner_may_revoke_others_may_not(system: System) -> None:
    ledger = system.ledger

    async def works(token: str) -> bool:
        return (await ledger.client.get("/v1/whoami", headers=_bearer(token))).status_code == 200

    by_requester, by_admin, by_learner = [
        await ledger.passbook_link(LEARNER, NSTI) for _ in range(3)
    ]
    stranger = await ledger.client.delete(
        f"/v1/passbook-links/{by_requester['link_id']}",
        headers=await ledger.headers(Role.INSTITUTION, ATI),
    )
    assert stranger.status_code == 404
    assert await works(by_requester["token"])
    revoked = await ledger.client.delete(
        f"/v1/passbook-links/{by_requester['link_id']}",
        headers=await ledger.headers(Role.INSTITUTION, NSTI),
    )
    assert revoked.status_code == 204
    assert not await works(by_requester["token"])
    admin = await ledger.client.delete(
        f"/v1/passbook-links/{by_admin['link_id']}", headers=await ledger.headers(Role.ADMIN)
    )
    assert admin.status_code == 204
    assert not await works(by_admin["token"])
    itself = await ledger.client.delete(
        f"/v1/passbook-links/{by_learner['link_id']}", headers=_bearer(by_learner["token"])
    )
    assert itself.status_code == 204
    assert not await works(by_learner["token"])

    listed = await ledger.get(f"/v1/learners/{LEARNER}/passbook-links", Role.INSTITUTION, NSTI)
    assert [link["revoked_at"] is not None for link in listed.json()] == [True, True, True]
    assert (
        await ledger.get(f"/v1/learners/{LEARNER}/passbook-links", Role.INSTITUTION, ATI)
    ).json() == []


async def _links(ledger: Ledger) -> int:
    return len((await ledger.get(f"/v1/learners/{LEARNER}/passbook-links")).json())
