"""A service's OpenAPI documents as committed files (docs/), kept in step by a test.

Each service names its own documents (path -> app factory); ``credit-ledger contracts``
writes or checks them all, so no service builds another's app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Components, SecurityScheme

Documents = Mapping[Path, Callable[[], Litestar]]

API_KEY_SCHEME = "apiKey"
# An operation's (or a document's) security: a credit-ledger API key, or nothing at all.
REQUIRES_API_KEY: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}]
NO_CREDENTIALS: list[dict[str, list[str]]] = [{}]


def api_key_components() -> Components:
    """The bearer API-key scheme every service's document declares."""
    return Components(
        security_schemes={
            API_KEY_SCHEME: SecurityScheme(
                type="http", scheme="bearer", description="A credit-ledger API key"
            )
        }
    )


def render(app_factory: Callable[[], Litestar]) -> bytes:
    """The app's OpenAPI document, keys sorted, as committed. Building an app opens no
    connection: only its lifespan does."""
    document = app_factory().openapi_schema.to_schema()
    return msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2) + b"\n"


def write_documents(root: Path, documents: Documents) -> list[Path]:
    written = []
    for path, factory in documents.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render(factory))
        written.append(target)
    return written


def stale_documents(root: Path, documents: Documents) -> list[Path]:
    return [
        path
        for path, factory in documents.items()
        if not (root / path).exists() or (root / path).read_bytes() != render(factory)
    ]
