"""A credential's page and the verify page over HTTP, on real servers: content
negotiation of ``/v1/credentials/{id}``, the verdict said in plain words (valid, tampered,
revoked), a link of this issuer's only (never fetched), and bad input answered with a page
that says what is wrong."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape
from pathlib import Path

import msgspec
import pytest

from services.issuer.credentials.jws import b64url_decode, b64url_encode
from tests.support.issued import Issued, names_a_learner

pytestmark = pytest.mark.integration

NSTI_NAME = "National Skill Training Institute, Chennai"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def test_the_link_answers_a_page_json_or_the_vc_jwt(issued: Issued) -> None:
    client, path = issued.issuer.client, issued.path(issued.valid)
    page = await client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["vary"] == "Accept"
    text = _text(page.text)
    assert "Genuine and in force" in text
    assert "NSQF level" in text
    assert NSTI_NAME in text  # the components' institution, by name
    assert not names_a_learner(page.text)  # never the learner's id
    og = dict(re.findall(r'<meta property="og:(\w+)" content="([^"]*)"', page.text))
    assert og["url"] == f"{str(client.base_url).rstrip('/')}{path}"
    assert "credits" in og["description"]
    assert og["title"]

    jwt = await client.get(path, headers={"Accept": "application/vc+jwt"})
    assert jwt.headers["content-type"].startswith("application/vc+jwt")
    assert jwt.text == issued.valid["jwt"]
    assert (await client.get(path, params={"format": "jwt"})).text == issued.valid["jwt"]
    for accept in ("*/*", "application/json"):
        answer = await client.get(path, headers={"Accept": accept})
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["jwt"] == issued.valid["jwt"]
    assert (await client.get(path, params={"format": "pdf"})).status_code == 422
    missing = await client.get(f"/v1/credentials/{uuid.uuid4()}", headers={"Accept": "text/html"})
    assert missing.status_code == 404


async def test_a_revoked_credential_says_since_when_and_why(issued: Issued) -> None:
    page = await issued.issuer.client.get(issued.path(issued.revoked), params={"format": "html"})
    text = _text(page.text)
    assert "Revoked" in text
    revoked_on = issued.revoked["revoked_at"][:10]
    assert re.search(rf"revoked it on {revoked_on}: \S", text), text


async def test_verify_by_link_looks_up_only_this_issuers_credentials(issued: Issued) -> None:
    client = issued.issuer.client
    base = str(client.base_url).rstrip("/")
    own = await client.get("/verify", params={"credential": f"{base}{issued.path(issued.valid)}"})
    assert "Genuine and in force" in _text(own.text)
    by_id = await client.get("/verify", params={"credential": issued.valid["credential_id"]})
    assert "Genuine and in force" in _text(by_id.text)
    revoked = await client.get("/verify", params={"credential": issued.path(issued.revoked)})
    assert "Revoked" in _text(revoked.text)
    # Anywhere else (another host, a metadata address) is refused without a request.
    for elsewhere in (
        f"http://169.254.169.254/v1/credentials/{uuid.uuid4()}",
        f"https://evil.example{issued.path(issued.valid)}",
        "file:///etc/passwd",
    ):
        answer = await client.get("/verify", params={"credential": elsewhere})
        assert answer.status_code == 422
        assert "only this issuer's own credentials" in _text(answer.text)
    unknown = await client.get("/verify", params={"credential": str(uuid.uuid4())})
    assert unknown.status_code == 404
    too_long = await client.get("/verify", params={"credential": "x" * 5000})
    assert too_long.status_code == 422


async def test_verify_a_pasted_or_uploaded_credential(issued: Issued) -> None:
    client, token = issued.issuer.client, issued.valid["jwt"]
    pasted = await client.post("/verify", data={"credential": token})
    assert pasted.status_code == 200
    assert "Genuine and in force" in _text(pasted.text)

    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["name"] = "Doctor of Everything"
    forged = f"{header}.{b64url_encode(msgspec.json.encode(claims))}.{signature}"
    tampered = _text((await client.post("/verify", data={"credential": forged})).text)
    assert "Not valid" in tampered
    assert "Doctor of Everything" not in tampered  # nothing of untrusted content is shown
    assert "cannot be trusted" in tampered

    document = (await client.get(issued.path(issued.valid))).content
    files = {"file": ("credential.json", document, "application/json")}
    assert "Genuine and in force" in _text((await client.post("/verify", files=files)).text)
    files = {"file": ("credential.jwt", token.encode(), "application/octet-stream")}
    assert "Genuine and in force" in _text((await client.post("/verify", files=files)).text)


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({}, 422, "Paste a credential"),
        ({"credential": "   "}, 422, "Paste a credential"),
        ({"credential": '{"credential": {}}'}, 422, "no jwt member"),
        ({"credential": "not.a.credential"}, 200, "Not valid"),
        ({"credential": "x" * (1024 * 1024 + 1)}, 413, "at most"),
    ],
    ids=["empty", "blank", "json-without-jwt", "garbage", "oversized"],
)
async def test_bad_submissions_get_a_page_that_says_why(
    issued: Issued, form: dict[str, str], status: int, says: str
) -> None:
    answer = await issued.issuer.client.post("/verify", data=form)
    assert answer.status_code == status
    assert says in _text(answer.text)


async def test_a_file_that_is_not_text_is_refused(issued: Issued, tmp_path: Path) -> None:
    files = {"file": ("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(64), "image/jpeg")}
    answer = await issued.issuer.client.post("/verify", files=files)
    assert answer.status_code == 422
    assert "not text" in _text(answer.text)
