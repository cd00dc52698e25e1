"""The real ledger app under uvicorn, as its own process, for the benchmark.

Configured from the environment exactly like ``credit-ledger serve`` (DATABASE_URL, NATS_URL,
CREDIT_LEDGER_*); the benchmark sets CREDIT_LEDGER_LOG_LEVEL=warning so that logging does
not dominate what is measured.
"""

from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.common.settings import load_settings
from services.ledger.app import create_app


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log.level, settings.log.format)
    uvicorn.run(
        create_app(settings),
        host=settings.http.host,
        port=settings.http.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
