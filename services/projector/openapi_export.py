"""The projector's OpenAPI document as a committed file (docs/openapi-projector.json)."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.openapi import Documents
from services.common.settings import load_settings

PROJECTOR_OPENAPI_PATH = Path("docs/openapi-projector.json")


def _projector_app() -> Litestar:
    from services.projector.app import create_projector_app

    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://openapi/export",
            "CREDIT_LEDGER_PROJECTOR_API_KEY": "unused",
        }
    )
    return create_projector_app(settings, run_worker=False)


DOCUMENTS: Documents = {PROJECTOR_OPENAPI_PATH: _projector_app}
