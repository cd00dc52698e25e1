"""The services' OpenAPI documents as committed files (docs/), kept in step by a test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from litestar import Litestar

from credit_ledger.settings import Settings, load_settings

OPENAPI_PATH = Path("docs/openapi.json")
PROJECTOR_OPENAPI_PATH = Path("docs/openapi-projector.json")


def _settings() -> Settings:
    # Building an app opens no connection: only its lifespan does.
    return load_settings(
        {
            "DATABASE_URL": "postgresql://openapi/export",
            "CREDIT_LEDGER_RELAY_ENABLED": "false",
            "CREDIT_LEDGER_PROJECTOR_API_KEY": "unused",
        }
    )


def _ledger_app() -> Litestar:
    from services.ledger.app import create_app

    return create_app(_settings())


def _projector_app() -> Litestar:
    from services.projector.app import create_projector_app

    return create_projector_app(_settings(), run_worker=False)


DOCUMENTS: dict[Path, Callable[[], Litestar]] = {
    OPENAPI_PATH: _ledger_app,
    PROJECTOR_OPENAPI_PATH: _projector_app,
}


def render(app_factory: Callable[[], Litestar]) -> bytes:
    document = app_factory().openapi_schema.to_schema()
    return msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2) + b"\n"


def render_openapi() -> bytes:
    return render(_ledger_app)


def write_openapi(root: Path) -> list[Path]:
    written = []
    for path, factory in DOCUMENTS.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render(factory))
        written.append(target)
    return written


def stale_openapi(root: Path) -> list[Path]:
    return [
        path
        for path, factory in DOCUMENTS.items()
        if not (root / path).exists() or (root / path).read_bytes() != render(factory)
    ]
