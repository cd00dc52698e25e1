"""docs/openapi*.json are the documents the ledger, the projector and the issuer serve,
regenerated from the code."""

from __future__ import annotations

import json
from pathlib import Path

from services.common.openapi import stale_documents
from services.issuer import openapi_export as issuer_openapi
from services.ledger.openapi_export import DOCUMENTS, OPENAPI_PATH, render_openapi, stale_openapi
from services.projector import openapi_export as projector_openapi

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_openapi_documents_are_current() -> None:
    assert stale_openapi(ROOT) == [], "run: credit-ledger contracts generate"
    for documents in (projector_openapi.DOCUMENTS, issuer_openapi.DOCUMENTS):
        assert stale_documents(ROOT, documents) == [], "run: credit-ledger contracts generate"


def test_every_write_path_documents_its_refusals() -> None:
    document = json.loads(render_openapi())
    for path in ("/v1/events", "/v1/events/batch"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"400", "401", "403", "409", "413", "422"} <= set(responses), path


def test_the_documents_are_committed_at_the_documented_paths() -> None:
    assert (ROOT / OPENAPI_PATH).exists()
    every = {**DOCUMENTS, **projector_openapi.DOCUMENTS, **issuer_openapi.DOCUMENTS}
    assert all((ROOT / path).exists() for path in every)
