"""The issuer's OpenAPI document as a committed file (docs/openapi-issuer.json)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from litestar import Litestar

from services.common.openapi import Documents
from services.common.settings import load_settings

ISSUER_OPENAPI_PATH = Path("docs/openapi-issuer.json")


def _issuer_app() -> Litestar:
    """The issuer's app as configured for nothing but its routes: the signing keys it
    loads at start-up are throwaway ones, which the document does not depend on."""
    from services.issuer.app import create_issuer_app
    from services.issuer.credentials.keys import ensure_dev_keys

    with tempfile.TemporaryDirectory(prefix="issuer-openapi-") as folder:
        settings = load_settings(
            {
                "DATABASE_URL": "postgresql://openapi/export",
                "CREDIT_LEDGER_ISSUER_API_KEY": "unused",
                "CREDIT_LEDGER_ISSUER_KEY_FILE": str(ensure_dev_keys(Path(folder))),
                "CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT": "openapi-export-only-salt-unused",
                "CREDIT_LEDGER_ISSUER_PUBLIC_URL": "http://localhost:8090",
            }
        )
        return create_issuer_app(settings, run_workers=False)


DOCUMENTS: Documents = {ISSUER_OPENAPI_PATH: _issuer_app}
