"""The ledger's OpenAPI document as a committed file (docs/openapi.json)."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.openapi import Documents, render, stale_documents
from services.common.settings import load_settings

OPENAPI_PATH = Path("docs/openapi.json")


def _ledger_app() -> Litestar:
    from services.ledger.app import create_app

    settings = load_settings(
        {"DATABASE_URL": "postgresql://openapi/export", "CREDIT_LEDGER_RELAY_ENABLED": "false"}
    )
    return create_app(settings)


DOCUMENTS: Documents = {OPENAPI_PATH: _ledger_app}


def render_openapi() -> bytes:
    return render(_ledger_app)


def stale_openapi(root: Path) -> list[Path]:
    return stale_documents(root, DOCUMENTS)
