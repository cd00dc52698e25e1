"""Every OpenAPI document lists the answers that follow from how a route is served
(services/common/http/answers.py): 401 where a key is needed, 403 where a guard admits only
some roles, 422 for parameters, 400/413/422 for a body; every refusal as problem+json; and
never Litestar's generic 400, which no GET sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.http.problems import PROBLEM_MEDIA_TYPE

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["docs/openapi.json", "docs/openapi-projector.json", "docs/openapi-issuer.json"]
# Readiness answers 503 with the same body as its 200: a state, not a refusal.
NOT_PROBLEMS = {("/ready", "503")}


def operations(path: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    document = json.loads((ROOT / path).read_bytes())
    return [
        (route, method, operation, document)
        for route, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("path", DOCUMENTS)
def test_each_refusal_is_problem_json_and_never_litestars_generic_400(path: str) -> None:
    """An API refusal is problem+json only; a page (its 200 is HTML) may also answer a
    refusal as a page that says what is wrong, but never with Litestar's generic body."""
    for route, method, operation, _ in operations(path):
        page = "text/html" in operation["responses"].get("200", {}).get("content", {})
        allowed = {PROBLEM_MEDIA_TYPE, "text/html"} if page else {PROBLEM_MEDIA_TYPE}
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and (route, status) not in NOT_PROBLEMS:
                content = set(answer.get("content", {}))
                assert content, (route, method, status)
                assert content <= allowed, (route, method, status)


@pytest.mark.parametrize("path", DOCUMENTS)
def test_what_follows_from_how_a_route_is_served_is_documented(path: str) -> None:
    for route, method, operation, document in operations(path):
        answers = set(operation["responses"])
        security = operation.get("security", document.get("security", []))
        if security and security != [{}]:
            assert "401" in answers, (route, method)
        if operation.get("parameters"):
            assert "422" in answers, (route, method)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= answers, (route, method)


def test_a_guarded_route_documents_its_403() -> None:
    document = json.loads((ROOT / "docs/openapi.json").read_bytes())
    for route in ("/v1/log", "/v1/admin/api-keys", "/v1/audit/tree-heads"):
        assert "403" in document["paths"][route]["get"]["responses"], route
    # Every role may read the head: no 403 to document.
    assert "403" not in document["paths"]["/v1/head"]["get"]["responses"]
