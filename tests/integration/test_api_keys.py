"""API keys over HTTP: the admin creates, lists and revokes them; nobody else may."""

from __future__ import annotations

from typing import Any

import pytest

from proto.envelope import Role
from tests.support.factories import NSTI, append_body, assessment_passed
from tests.support.ledger import Ledger, running_ledger

pytestmark = pytest.mark.integration

KEYS = "/v1/admin/api-keys"


async def created_key(ledger: Ledger, **request: Any) -> dict[str, Any]:
    response = await ledger.post(KEYS, request)
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_institution_key_made_by_the_admin_can_append(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        key = await created_key(
            ledger, role="institution", name="NSTI upload robot", institution_id=NSTI
        )
        assert key["key"].startswith(f"clk_{key['key_id']}_")
        assert key["institution_id"] == NSTI
        response = await ledger.client.post(
            "/v1/events",
            json=append_body(assessment_passed()),
            headers=bearer(key["key"]),
        )
        assert response.status_code == 201, response.text
        recorded = (await ledger.get(f"/v1/events/{response.json()['event_id']}")).json()
        assert recorded["metadata"]["actor"] == {
            "role": "institution",
            "key_id": key["key_id"],
            "institution_id": NSTI,
        }


async def test_a_key_for_an_unregistered_institution_is_refused(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.post(
            KEYS, {"role": "institution", "name": "ghost", "institution_id": "GHOST-INST"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "institution_unknown"


@pytest.mark.parametrize("role", [Role.INSTITUTION, Role.ISSUER, Role.AUDITOR])
async def test_only_the_admin_may_manage_keys(database_url: str, role: Role) -> None:
    async with running_ledger(database_url) as ledger:
        institution_id = NSTI if role is Role.INSTITUTION else None
        headers = await ledger.headers(role, institution_id)
        admin_key = await created_key(ledger, role="auditor", name="audit team")
        attempts = [
            await ledger.client.get(KEYS, headers=headers),
            await ledger.client.post(
                KEYS, json={"role": "admin", "name": "escalation"}, headers=headers
            ),
            await ledger.client.delete(f"{KEYS}/{admin_key['key_id']}", headers=headers),
        ]
        assert [r.status_code for r in attempts] == [403, 403, 403]
        assert all(
            r.headers["content-type"].startswith("application/problem+json") for r in attempts
        )
        listed = (await ledger.get(KEYS)).json()
        assert [k["name"] for k in listed if k["name"] == "escalation"] == []
        assert next(k for k in listed if k["key_id"] == admin_key["key_id"])["revoked_at"] is None


async def test_the_key_list_never_shows_secrets(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        key = await created_key(ledger, role="institution", name="NSTI", institution_id=NSTI)
        secret = key["key"].split("_", 2)[2]
        response = await ledger.get(KEYS)
        assert response.status_code == 200
        assert secret not in response.text
        listed = next(k for k in response.json() if k["key_id"] == key["key_id"])
        assert set(listed) == {
            "key_id",
            "role",
            "institution_id",
            "name",
            "created_at",
            "revoked_at",
        }


async def test_a_revoked_key_stops_working(database_url: str) -> None:
    async with running_ledger(database_url, CREDIT_LEDGER_API_KEY_CACHE_TTL_S="0") as ledger:
        key = await created_key(ledger, role="auditor", name="short-lived auditor")
        assert (await ledger.client.get("/v1/head", headers=bearer(key["key"]))).status_code == 200

        revoked = await ledger.client.delete(
            f"{KEYS}/{key['key_id']}", headers=await ledger.headers(Role.ADMIN)
        )
        assert revoked.status_code == 204

        refused = await ledger.client.get("/v1/head", headers=bearer(key["key"]))
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        listed = (await ledger.get(KEYS)).json()
        assert next(k for k in listed if k["key_id"] == key["key_id"])["revoked_at"] is not None


async def test_revoking_an_unknown_key_is_not_found(database_url: str) -> None:
    async with running_ledger(database_url) as ledger:
        response = await ledger.client.delete(
            f"{KEYS}/0123456789abcdef", headers=await ledger.headers(Role.ADMIN)
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
