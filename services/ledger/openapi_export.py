"""The ledger's OpenAPI document as a committed file (docs/openapi.json), kept in step by a test."""

from __future__ import annotations

from pathlib import Path

import msgspec

from credit_ledger.settings import load_settings
from services.ledger.app import create_app

OPENAPI_PATH = Path("docs/openapi.json")


def render_openapi() -> bytes:
    # Building the app opens no connection: only the lifespan does.
    settings = load_settings(
        {"DATABASE_URL": "postgresql://openapi/export", "CREDIT_LEDGER_RELAY_ENABLED": "false"}
    )
    document = create_app(settings).openapi_schema.to_schema()
    return msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2) + b"\n"


def write_openapi(root: Path) -> Path:
    path = root / OPENAPI_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_openapi())
    return path


def openapi_is_stale(root: Path) -> bool:
    path = root / OPENAPI_PATH
    return not path.exists() or path.read_bytes() != render_openapi()
