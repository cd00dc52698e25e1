"""The real ledger under ``credit-ledger serve``, as its own process tree, for the benchmarks.

Configured from the environment exactly like ``credit-ledger serve`` (DATABASE_URL, NATS_URL,
CREDIT_LEDGER_*, CREDIT_LEDGER_WORKERS HTTP processes, the relay and the tree builder as
processes of their own); the benchmark sets CREDIT_LEDGER_LOG_LEVEL=warning so that
logging does not dominate what is measured.
"""

from __future__ import annotations

from credit_ledger.ledger_processes import serve_ledger
from services.common.logs import configure_logging
from services.common.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log.level, settings.log.format)
    serve_ledger(settings)


if __name__ == "__main__":
    main()
