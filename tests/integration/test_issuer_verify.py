"""POST /v1/verify refuses every kind of bad credential, each with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from services.issuer.credentials.jws import b64url_decode, b64url_encode
from services.issuer.credentials.keys import generate_key, key_set, write_jwks
from services.issuer.credentials.vc_jwt import sign_credential
from tests.support.issuer import CERTIFICATE, holds, pass_modules, revoke_pass, running_issuer
from tests.support.ledger import served_ledger
from tests.support.projector import running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

HOLDER = "850000000001"


async def test_verification_rejects_tampering_foreign_keys_none_expiry_and_revocation(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url),
        running_issuer(ledger, database_url, nats.url, tmp_path / "issuer") as issuer,
    ):
        passes = await pass_modules(ledger, HOLDER)
        [credential] = await issuer.wait_for(HOLDER, holds(CERTIFICATE))
        token = credential["jwt"]
        header, payload, signature = token.split(".")
        claims = json.loads(b64url_decode(payload))
        assert (await issuer.verify(token))["valid"]

        tampered = dict(claims, name="Doctor of Everything")
        report = await issuer.verify(
            f"{header}.{b64url_encode(msgspec.json.encode(tampered))}.{signature}"
        )
        assert not report["valid"]
        assert "altered or signed by another key" in report["signature"]["reason"]

        # Another key that claims the issuer's kid: the signature does not hold.
        public_url = str(issuer.client.base_url).rstrip("/")
        write_jwks(tmp_path / "stranger.json", [generate_key("RS256")])
        stranger = key_set(tmp_path / "stranger.json", "RS256", None, public_url)
        forged, _ = sign_credential(claims, stranger)
        fheader = json.loads(b64url_decode(forged.split(".")[0]))
        fheader["kid"] = credential["key_id"]
        relabelled = f"{b64url_encode(msgspec.json.encode(fheader))}.{forged.split('.', 1)[1]}"
        report = await issuer.verify(relabelled)
        assert not report["signature"]["ok"]
        assert "altered or signed by another key" in report["signature"]["reason"]
        report = await issuer.verify(forged)
        assert not report["issuer_key"]["ok"]
        assert "not a key this issuer publishes" in report["issuer_key"]["reason"]

        unsigned = b64url_encode(msgspec.json.encode({"alg": "none", "typ": "JWT"}))
        report = await issuer.verify(f"{unsigned}.{payload}.")
        assert not report["valid"]
        report = await issuer.verify(f"{unsigned}.{payload}.AA")
        assert "'none' is never accepted" in report["signature"]["reason"]

        # The issuer's own key, but a validity that has ended.
        own = key_set(issuer.key_file, "RS256", None, public_url)
        expired, _ = sign_credential(dict(claims, validUntil="2026-01-01T00:00:00Z"), own)
        report = await issuer.verify(expired)
        assert report["signature"]["ok"]
        assert not report["validity"]["ok"]
        assert "expired" in report["validity"]["reason"]

        await revoke_pass(ledger, HOLDER, passes["CNC-FUND"])
        await issuer.wait_for(HOLDER, holds(CERTIFICATE, active=False))
        report = await issuer.verify(token)
        assert report["signature"]["ok"]
        assert not report["status"]["ok"]
        assert "revoked" in report["status"]["reason"]

        response = await issuer.client.post("/v1/verify", json={"token": token})
        assert response.status_code in (400, 422)
        assert response.headers["content-type"].startswith("application/problem+json")
        page = await issuer.client.get("/verify")
        assert page.status_code == 200
        assert '<form method="post" action="/verify"' in page.text
