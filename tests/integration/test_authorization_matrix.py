"""Who may call what: every route of the three services (from their route tables) ×
every kind of caller, each cell's expected status in one table.

A route without a row, or a row without a cell for each caller, fails the test, so a new
route or a new kind of caller (a learner's link, an employer) must say who may call it.
The data is institution OWN's: a learner it recorded a pass for and the event itself.
OTHER is another institution, asking about OWN's data.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from proto.envelope import Role
from services.issuer.app import ROUTES as ISSUER_ROUTES
from services.ledger.app import ROUTES as LEDGER_API_ROUTES
from services.ledger.audit.signing import create_key_file
from services.ledger.upload.page import upload_routes
from services.projector.app import ROUTES as PROJECTOR_ROUTES
from tests.support.factories import ATI, NSTI, append_body, assessment_passed
from tests.support.ledger import Ledger
from tests.support.projector import record_pass
from tests.support.servers import NatsHandle
from tests.support.system import running_system

pytestmark = pytest.mark.integration

OWN, OTHER = NSTI, ATI
LEARNER = "920000000001"
# The ledger's app adds the upload page's routes to its table (their body limit is a setting).
LEDGER_ROUTES = [*LEDGER_API_ROUTES, *upload_routes(1024)]
CALLERS = (
    "no key",
    "other institution",
    "own institution",
    "issuer",
    "auditor",
    "admin",
    "learner",  # LEARNER's passbook link, asked for by OWN
)

# (service, method, path): the status each of CALLERS gets, in that order.
MATRIX: dict[tuple[str, str, str], tuple[int, ...]] = {
    # ledger: writes
    ("ledger", "POST", "/v1/events"): (401, 403, 201, 403, 403, 403, 403),
    ("ledger", "POST", "/v1/events/batch"): (401, 403, 201, 403, 403, 403, 403),
    ("ledger", "POST", "/v1/admin/api-keys"): (401, 403, 403, 403, 403, 201, 403),
    ("ledger", "DELETE", "/v1/admin/api-keys/{key_id}"): (401, 403, 403, 403, 403, 204, 403),
    ("ledger", "POST", "/v1/audit/tree-heads"): (401, 403, 403, 403, 201, 403, 403),
    # ledger: reads (an institution sees only the events it recorded)
    ("ledger", "GET", "/v1/events/{event_id}"): (401, 404, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/streams/{stream}"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/log"): (401, 403, 403, 200, 200, 200, 403),
    ("ledger", "GET", "/v1/log/ndjson"): (401, 403, 403, 200, 200, 200, 403),
    ("ledger", "GET", "/v1/head"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/admin/api-keys"): (401, 403, 403, 403, 403, 200, 403),
    ("ledger", "GET", "/v1/institutions"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/institutions/{institution_id}"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/catalog/micro-credentials"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/catalog/qualifications"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/whoami"): (401, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/audit/keys"): (200, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/v1/audit/tree-heads"): (401, 403, 403, 403, 200, 403, 403),
    ("ledger", "GET", "/v1/audit/tree-heads/latest"): (401, 403, 403, 403, 200, 403, 403),
    ("ledger", "GET", "/v1/audit/proofs/inclusion"): (401, 403, 403, 403, 200, 403, 403),
    ("ledger", "GET", "/v1/audit/proofs/consistency"): (401, 403, 403, 403, 200, 403, 403),
    ("ledger", "GET", "/health"): (200, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/ready"): (200, 200, 200, 200, 200, 200, 200),
    ("ledger", "GET", "/metrics"): (200, 200, 200, 200, 200, 200, 200),
    # ledger: the upload page signs staff in by form and session cookie, never by a bearer
    # key: without the sign-in form's token it is a 403, without a session a 401 (sign-out
    # just sends the browser back to the page).
    ("ledger", "GET", "/upload"): (200, 200, 200, 200, 200, 200, 200),
    ("ledger", "POST", "/upload/sign-in"): (403, 403, 403, 403, 403, 403, 403),
    ("ledger", "POST", "/upload/sign-out"): (303, 303, 303, 303, 303, 303, 303),
    ("ledger", "POST", "/upload"): (401, 401, 401, 401, 401, 401, 401),
    # projector: an institution sees only its own learners, folded from its own events
    ("projector", "GET", "/v1/learners/{learner_id}/credit-bank"): (
        401,
        404,
        200,
        200,
        200,
        200,
        200,
    ),
    ("projector", "GET", "/v1/learners/{learner_id}/progress/{qualification_code}"): (
        401,
        404,
        200,
        200,
        200,
        200,
        200,
    ),
    ("projector", "GET", "/v1/qualifications/{qualification_code}/eligible-learners"): (
        401,
        200,
        200,
        200,
        200,
        200,
        403,
    ),
    ("projector", "GET", "/health"): (200, 200, 200, 200, 200, 200, 200),
    ("projector", "GET", "/ready"): (200, 200, 200, 200, 200, 200, 200),
    ("projector", "GET", "/metrics"): (200, 200, 200, 200, 200, 200, 200),
    # ledger: passbook links (another institution recorded nothing for LEARNER: a 404; it
    # lists none of the links it did not ask for)
    ("ledger", "POST", "/v1/learners/{learner_id}/passbook-links"): (
        401,
        404,
        201,
        403,
        403,
        201,
        403,
    ),
    ("ledger", "GET", "/v1/learners/{learner_id}/passbook-links"): (
        401,
        200,
        200,
        403,
        403,
        200,
        200,
    ),
    ("ledger", "DELETE", "/v1/passbook-links/{link_id}"): (401, 404, 204, 403, 403, 204, 204),
    # (a head is signed by the auditor's POST /v1/audit/tree-heads above, after LEARNER's pass)
    ("ledger", "GET", "/v1/learners/{learner_id}/inclusion-proof"): (
        401,
        403,
        403,
        403,
        200,
        200,
        200,
    ),
    # issuer: public by design (verifiers hold no key), except a learner's credential list
    ("issuer", "GET", "/v1/learners/{learner_id}/credentials"): (401, 403, 403, 200, 200, 200, 200),
    ("issuer", "GET", "/.well-known/jwks.json"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/.well-known/did.json"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/did.json"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/v1/keys/{thumbprint}"): (200, 200, 200, 200, 200, 200, 200),
    # No credential is issued here, so neither a status list nor a credential exists: the
    # same 404 to everyone (the credential's unguessable id is its only guard).
    ("issuer", "GET", "/v1/status-lists/{list_id}"): (404, 404, 404, 404, 404, 404, 404),
    ("issuer", "GET", "/v1/credentials/{credential_id}"): (404, 404, 404, 404, 404, 404, 404),
    ("issuer", "POST", "/v1/verify"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/verify"): (200, 200, 200, 200, 200, 200, 200),
    # The passbook signs in by the link's cookie, never by a bearer header: with neither,
    # the page says the link does not work and its forms are refused.
    ("issuer", "GET", "/passbook"): (401, 401, 401, 401, 401, 401, 401),
    ("issuer", "POST", "/passbook/sign-out"): (403, 403, 403, 403, 403, 403, 403),
    ("issuer", "POST", "/passbook/revoke-link"): (403, 403, 403, 403, 403, 403, 403),
    ("issuer", "GET", "/passbook/transcript.jwt"): (401, 401, 401, 401, 401, 401, 401),
    ("issuer", "GET", "/passbook/proof.json"): (401, 401, 401, 401, 401, 401, 401),
    ("issuer", "POST", "/passbook/consent/grant"): (403, 403, 403, 403, 403, 403, 403),
    ("issuer", "POST", "/passbook/consent/withdraw"): (403, 403, 403, 403, 403, 403, 403),
    # A form post with nothing in it: the page asks for a credential.
    ("issuer", "POST", "/verify"): (422, 422, 422, 422, 422, 422, 422),
    ("issuer", "GET", "/health"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/ready"): (200, 200, 200, 200, 200, 200, 200),
    ("issuer", "GET", "/metrics"): (200, 200, 200, 200, 200, 200, 200),
}

ROUTE_TABLES = {"ledger": LEDGER_ROUTES, "projector": PROJECTOR_ROUTES, "issuer": ISSUER_ROUTES}


def routes_served() -> set[tuple[str, str, str]]:
    """(service, method, path) of every route in the three route tables."""
    served: set[tuple[str, str, str]] = set()
    for service, table in ROUTE_TABLES.items():
        for handler in table:
            for path in handler.paths:
                for method in handler.http_methods:
                    served.add((service, method, re.sub(r"\{(\w+):\w+\}", r"{\1}", path)))
    return served


def caller_role(caller: str) -> Role:
    return Role.INSTITUTION if caller.endswith("institution") else Role(caller)


def test_every_route_and_every_caller_has_a_cell() -> None:
    assert set(MATRIX) == routes_served()
    assert all(len(row) == len(CALLERS) for row in MATRIX.values())
    # A new role is a new kind of caller: it needs a column.
    assert {caller_role(caller) for caller in CALLERS if caller != "no key"} == set(Role)


class Fixture:
    """What the requests of the matrix name: OWN's learner and event, a key and a passbook
    link to revoke."""

    def __init__(self, ledger: Ledger, event_id: str, thumbprint: str) -> None:
        self.ledger = ledger
        self.event_id = event_id
        self.thumbprint = thumbprint

    async def fresh_key_id(self) -> str:
        response = await self.ledger.post(
            "/v1/admin/api-keys", {"role": "auditor", "name": f"revoke-{uuid.uuid4()}"}
        )
        key_id: str = response.json()["key_id"]
        return key_id

    def path_values(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "stream": f"learner-{LEARNER}",
            "institution_id": OWN,
            "learner_id": LEARNER,
            "qualification_code": "ADV-CNC-MACHINING",
            "thumbprint": self.thumbprint,
            "list_id": "1",
            "credential_id": str(uuid.uuid4()),
        }


QUERIES = {
    "/v1/audit/proofs/inclusion": {"position": 1, "tree_size": 1},
    "/v1/audit/proofs/consistency": {"from_size": 0, "to_size": 0},
}


def body_for(path: str) -> Any:
    if path == "/v1/events":
        return append_body(assessment_passed(learner_id=LEARNER, institution_id=OWN))
    if path == "/v1/events/batch":
        return {"events": [append_body(assessment_passed(learner_id=LEARNER, institution_id=OWN))]}
    if path == "/v1/learners/{learner_id}/passbook-links":
        return {"valid_days": 1}
    if path == "/v1/admin/api-keys":
        return {"role": "auditor", "name": f"matrix-{uuid.uuid4()}"}
    if path == "/v1/verify":
        return {"credential": "not.a.credential"}
    return None


async def caller_headers(ledger: Ledger, caller: str) -> dict[str, str]:
    if caller == "no key":
        return {}
    role = caller_role(caller)
    if role is Role.LEARNER:
        return await ledger.learner_headers(LEARNER, OWN)
    if role is Role.INSTITUTION:
        return await ledger.headers(role, OTHER if caller == "other institution" else OWN)
    return await ledger.headers(role)


async def answer(
    client: httpx.AsyncClient, fixture: Fixture, method: str, path: str, caller: str
) -> int:
    values = fixture.path_values()
    if "{key_id}" in path:
        values["key_id"] = await fixture.fresh_key_id()
    if "{link_id}" in path:
        values["link_id"] = (await fixture.ledger.passbook_link(LEARNER, OWN))["link_id"]
    url = path.format(**values)
    response = await client.request(
        method,
        url,
        params=QUERIES.get(path),
        json=body_for(path),
        headers=await caller_headers(fixture.ledger, caller),
    )
    return response.status_code


async def test_each_caller_gets_the_status_its_cell_says(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    create_key_file(tmp_path / "tree.pem")
    signing_key = str(tmp_path / "tree.pem")
    async with running_system(
        database_url, nats.url, tmp_path / "keys", CREDIT_LEDGER_TREE_SIGNING_KEY_FILE=signing_key
    ) as system:
        ledger, projector, issuer = system.ledger, system.projector, system.issuer
        _, _ = await record_pass(ledger, LEARNER, OWN, "CNC-FUND", "2026-01-15")
        event = (await ledger.get(f"/v1/streams/learner-{LEARNER}", Role.AUDITOR)).json()
        jwks = (await issuer.client.get("/.well-known/jwks.json")).json()
        thumbprint = jwks["keys"][0]["kid"].rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        fixture = Fixture(ledger, event["events"][0]["event_id"], thumbprint)
        await projector.caught_up()
        clients = {"ledger": ledger.client, "projector": projector.client, "issuer": issuer.client}
        wrong = []
        for (service, method, path), expected in MATRIX.items():
            for caller, status in zip(CALLERS, expected, strict=True):
                got = await answer(clients[service], fixture, method, path, caller)
                if got != status:
                    wrong.append(f"{service} {method} {path} as {caller}: {got}, not {status}")
        assert wrong == []
