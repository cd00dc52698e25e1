"""The learner's passbook over HTTP on real servers: the link signs in and leaves the
address bar, the page shows the learner's credits, progress, qualifications and history
(each as its service answers the learner), and a forged, expired or revoked link, or a
form from elsewhere, is refused."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from proto.envelope import Role
from services.issuer.credentials.jws import b64url_decode
from tests.support.factories import NSTI
from tests.support.issuer import CERTIFICATE, CNC_MODULES, clr_schema_errors, holds, pass_modules
from tests.support.servers import NatsHandle
from tests.support.system import System, running_system

pytestmark = pytest.mark.integration

HOLDER, BEGINNER = "853000000001", "853000000002"


@pytest.fixture
async def system(database_url: str, nats: NatsHandle, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(
        database_url, nats.url, tmp_path / "keys", CREDIT_LEDGER_API_KEY_CACHE_TTL_S="0"
    ) as running:
        await pass_modules(running.ledger, HOLDER)
        await pass_modules(running.ledger, BEGINNER, CNC_MODULES[:2])
        await running.issuer.wait_for(HOLDER, holds(CERTIFICATE))
        await running.projector.caught_up()
        yield running


def _text(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))


async def _signed_in(system: System, learner: str) -> tuple[httpx.AsyncClient, str]:
    """A browser's client that followed the learner's link, and the cookie it keeps."""
    link = await system.ledger.passbook_link(learner, NSTI)
    client = system.issuer.client
    arrival = await client.get("/passbook", params={"link": link["token"]})
    assert arrival.status_code == 303
    assert arrival.headers["location"] == "/passbook"
    set_cookie = arrival.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/passbook"):
        assert attribute.lower() in set_cookie.lower()
    token = SimpleCookie(set_cookie)["passbook"].value
    return client, token


async def test_the_passbook_shows_the_learners_record(system: System) -> None:
    client, token = await _signed_in(system, HOLDER)
    page = await client.get("/passbook", headers={"Cookie": f"passbook={token}"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = _text(page)
    assert "Your credits" in text
    assert "NCrF credit points" in text
    assert "Advanced CNC Machining (ADV-CNC-MACHINING)" in text  # held, by its title
    assert 'src="data:image/svg+xml' in page.text  # the share link's QR code
    assert "National Skill Training Institute, Chennai" in text
    assert text.count("Counts:") == len(CNC_MODULES)  # each pass, explained
    assert "Awarded Advanced CNC Machining" in text
    positions = set(re.findall(r'href="#event-(\d+)"', page.text))
    anchors = set(re.findall(r'id="event-(\d+)"', page.text))
    assert positions
    assert positions <= anchors  # every figure's pass links to its entry in the history


async def test_progress_says_what_is_missing(system: System) -> None:
    client, token = await _signed_in(system, BEGINNER)
    text = _text(await client.get("/passbook", headers={"Cookie": f"passbook={token}"}))
    assert "On the way" in text
    assert re.search(r"\d+(\.\d+)? of 12 credits", text)
    assert "Still needed:" in text
    assert "No qualification has been awarded yet." in text


@pytest.mark.parametrize(
    "link",
    ["clp_bm90.aGVsbG8", "clk_0000000000000000_" + "x" * 43, "", "x" * 600],
    ids=["forged", "an-api-key-shape", "empty", "oversized"],
)
async def test_a_bad_link_is_refused(system: System, link: str) -> None:
    answer = await system.issuer.client.get("/passbook", params={"link": link})
    assert answer.status_code == 401
    assert "does not work" in _text(answer)


async def test_an_institution_key_is_not_a_passbook_link(system: System) -> None:
    key = await system.ledger.key(Role.INSTITUTION, NSTI)
    answer = await system.issuer.client.get("/passbook", params={"link": key})
    assert answer.status_code == 401


async def test_forms_need_the_passbooks_own_token(system: System) -> None:
    client, token = await _signed_in(system, HOLDER)
    cookie = {"Cookie": f"passbook={token}"}
    forged = await client.post(
        "/passbook/revoke-link", data={"form_token": "0" * 64}, headers=cookie
    )
    assert forged.status_code == 403
    assert (await client.get("/passbook", headers=cookie)).status_code == 200
    page = await client.get("/passbook", headers=cookie)
    form_token = re.search(r'name="form_token" value="([0-9a-f]{64})"', page.text)
    assert form_token is not None
    out = await client.post(
        "/passbook/sign-out", data={"form_token": form_token.group(1)}, headers=cookie
    )
    assert out.status_code == 200
    assert 'passbook=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]


async def test_the_learner_can_stop_their_link(system: System) -> None:
    client, token = await _signed_in(system, HOLDER)
    cookie = {"Cookie": f"passbook={token}"}
    page = await client.get("/passbook", headers=cookie)
    form_token = re.search(r'name="form_token" value="([0-9a-f]{64})"', page.text)
    assert form_token is not None
    stopped = await client.post(
        "/passbook/revoke-link", data={"form_token": form_token.group(1)}, headers=cookie
    )
    assert stopped.status_code == 200
    assert "no longer works" in _text(stopped)
    assert (await client.get("/passbook", headers=cookie)).status_code == 401
    # Arriving by the link again: refused, at once or (while the issuer's key cache still
    # holds the link, CREDIT_LEDGER_API_KEY_CACHE_TTL_S) on the page it leads to.
    again = await client.get("/passbook", params={"link": token})
    if again.status_code == 303:
        again = await client.get("/passbook", headers=cookie)
    assert again.status_code == 401


async def test_the_transcript_is_a_signed_clr_of_the_whole_record(system: System) -> None:
    client, token = await _signed_in(system, HOLDER)
    answer = await client.get("/passbook/transcript.jwt", headers={"Cookie": f"passbook={token}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vc+jwt")
    assert "attachment" in answer.headers["content-disposition"]
    report = await system.issuer.verify(answer.text)
    assert report["valid"], report
    transcript = json.loads(b64url_decode(answer.text.split(".")[1]))
    for claim in ("iss", "jti", "nbf", "sub"):
        transcript.pop(claim)
    assert clr_schema_errors(transcript) == []
    embedded = transcript["credentialSubject"]["verifiableCredential"]
    kinds = sorted(c["credentialSubject"]["achievement"]["humanCode"] for c in embedded)
    assert kinds == sorted([*CNC_MODULES, CERTIFICATE])
    assert {a["associationType"] for a in transcript["credentialSubject"]["association"]} == {
        "isPartOf"
    }
    assert HOLDER not in answer.text
    assert HOLDER not in json.dumps(transcript)
    nobody = await client.get("/passbook/transcript.jwt")
    assert nobody.status_code == 401
