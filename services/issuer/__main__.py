"""``python -m services.issuer serve``: run the issuer (consumers and HTTP API) in one process.

Configured from the environment like every service (DATABASE_URL, NATS_URL,
CREDIT_LEDGER_LEDGER_URL and the CREDIT_LEDGER_ISSUER_* variables); any number of processes
may run at once. ``python -m services.issuer dev-keys DIR`` makes (once) and prints the
development key file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.common.logs import configure_logging
from services.common.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.issuer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="consume, award, sign and serve")
    keys = sub.add_parser("dev-keys", help="create the development key file in DIR")
    keys.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dev-keys":
        from services.issuer.credentials.keys import ensure_dev_keys

        print(ensure_dev_keys(args.directory))
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)

    import uvicorn

    from services.issuer.app import create_issuer_app

    try:
        app = create_issuer_app(settings)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.http.host,
        port=settings.issuer.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
