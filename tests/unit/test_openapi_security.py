"""Each service's OpenAPI document says which operations need an API key, truthfully.

An operation documented as needing no credentials must be one the service's key guard
lets through (a public path, or a handler excluded from authentication), and every other
operation of the ledger and the projector must declare the bearer API-key scheme: so a
client generated from a document, or its try-it-out page, sends the key exactly where it
is needed. The issuer guards only its learner routes; its other routes are public.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from services.common.http.auth import PUBLIC_PATHS
from services.common.openapi import API_KEY_SCHEME, NO_CREDENTIALS, REQUIRES_API_KEY
from services.issuer import openapi_export as issuer_openapi
from services.ledger import openapi_export as ledger_openapi
from services.projector import openapi_export as projector_openapi

ROOT = Path(__file__).resolve().parents[2]
GUARDED = {
    "ledger": ledger_openapi.DOCUMENTS,
    "projector": projector_openapi.DOCUMENTS,
}


def _public_operations(app: Litestar) -> set[tuple[str, str]]:
    """(METHOD, path) of what the key guard lets through without a key."""
    public: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        open_path = any(re.match(pattern, route.path) for pattern in PUBLIC_PATHS)
        for handler in route.route_handlers:
            if open_path or handler.opt.get("exclude_from_auth"):
                public.update((method, route.path) for method in handler.http_methods)
    return public


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], Any]:
    default = document.get("security")
    return {
        (method.upper(), path): operation.get("security", default)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


@pytest.mark.parametrize("service", sorted(GUARDED))
def test_a_guarded_service_documents_its_key_and_its_public_operations(service: str) -> None:
    ((path, factory),) = GUARDED[service].items()
    app = factory()
    document = json.loads((ROOT / path).read_bytes())
    assert API_KEY_SCHEME in document["components"]["securitySchemes"]
    public = _public_operations(app)
    for operation, security in _operations(document).items():
        expected = NO_CREDENTIALS if operation in public else REQUIRES_API_KEY
        assert security == expected, operation


def test_the_issuer_documents_its_key_on_the_learner_routes_only() -> None:
    ((path, _),) = issuer_openapi.DOCUMENTS.items()
    document = json.loads((ROOT / path).read_bytes())
    assert API_KEY_SCHEME in document["components"]["securitySchemes"]
    for (method, route), security in _operations(document).items():
        if route.startswith("/v1/learners/"):
            assert security == REQUIRES_API_KEY, (method, route)
        else:
            assert security in (None, NO_CREDENTIALS), (method, route)
