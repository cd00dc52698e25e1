"""The ``credit-ledger`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from credit_ledger import audit_cli
from proto.envelope import Role
from services.common.logs import configure_logging
from services.common.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credit-ledger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser(
        "dev", help="run the whole system (embedded PostgreSQL and NATS when no URLs are set)"
    )
    dev.add_argument("--fresh", action="store_true", help="delete the data directory first")
    dev.add_argument("--no-demo", action="store_true", help="do not load the demo catalog")

    sub.add_parser(
        "serve",
        help="run the ledger service against DATABASE_URL and NATS_URL: CREDIT_LEDGER_WORKERS"
        " HTTP processes, the relay and the tree builder",
    )
    sub.add_parser(
        "relay",
        help="run only the relay (PostgreSQL log -> JetStream) until stopped; serve starts one",
    )
    projector = sub.add_parser("projector", help="run the projector (credit banks, eligibility)")
    projector.add_argument(
        "action",
        choices=["serve", "rebuild"],
        help=(
            "serve: consume live; rebuild: rebuild every partition (CREDIT_LEDGER_PROJECTOR_"
            "PARTITIONS of them, one process each) from the ledger's log, then serve"
        ),
    )
    projector.add_argument(
        "--partition",
        type=int,
        help="rebuild only this partition (the other partitions' workers may keep running)",
    )
    projector.add_argument(
        "--exit", action="store_true", help="exit after the rebuild instead of serving"
    )
    issuer = sub.add_parser("issuer", help="run the issuer (awards, Open Badges 3.0 credentials)")
    issuer.add_argument("action", choices=["serve"])
    sub.add_parser("migrate", help="apply pending database migrations (DATABASE_URL)")

    nats = sub.add_parser("nats", help="JetStream administration")
    nats_sub = nats.add_subparsers(dest="nats_command", required=True)
    nats_sub.add_parser("declare", help="declare the JetStream streams (NATS_URL)")

    keys = sub.add_parser("keys", help="manage API keys (DATABASE_URL)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--institution", help="the institution of an institution key")
    create.add_argument("--name", default="cli", help="what the key is for")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its key id")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never their secrets)")

    contracts = sub.add_parser("contracts", help="generate or check proto/ artefacts")
    contracts.add_argument("action", choices=["generate", "check"])
    audit_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    command: str = args.command
    if command == "dev":
        from credit_ledger.devstack import run_dev

        return run_dev(settings, fresh=args.fresh, load_demo=not args.no_demo)
    if command == "contracts":
        return _contracts(args.action)
    if command == "nats":
        return _with_nats(settings)
    if command == "issuer":
        from services.issuer.__main__ import main as issuer_main

        return issuer_main([args.action])
    if command == "audit":
        return audit_cli.run(settings, args)
    database_url = settings.infra.database_url
    if database_url is None:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    if command == "serve":
        return _serve(settings)
    if command == "relay":
        return _relay(settings)
    if command == "projector":
        if args.action == "serve" and (args.partition is not None or args.exit):
            print("--partition and --exit go with rebuild", file=sys.stderr)
            return 2
        return _projector(
            settings,
            rebuild_first=args.action == "rebuild",
            only_partition=args.partition,
            serve=not args.exit,
        )
    if command == "migrate":
        from credit_ledger.infra import apply_migrations

        applied = asyncio.run(apply_migrations(database_url))
        print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
        return 0
    return asyncio.run(_keys(database_url, args))


def _contracts(action: str) -> int:
    """proto/ artefacts and each service's OpenAPI document in docs/: rewrite them, or fail
    if any is stale."""
    from pathlib import Path

    from proto.generate import main as proto_main
    from services.common.openapi import stale_documents, write_documents
    from services.issuer import openapi_export as issuer_openapi
    from services.ledger import openapi_export as ledger_openapi
    from services.projector import openapi_export as projector_openapi

    root = Path.cwd()
    documents = {
        **ledger_openapi.DOCUMENTS,
        **projector_openapi.DOCUMENTS,
        **issuer_openapi.DOCUMENTS,
    }
    status = proto_main([action, "--root", str(root)])
    if action == "generate":
        for path in write_documents(root, documents):
            print(f"wrote {path}")
        return status
    stale = stale_documents(root, documents)
    for path in stale:
        print(f"stale: {path} (run: credit-ledger contracts generate)", file=sys.stderr)
    return 1 if stale else status


def _with_nats(settings: Settings) -> int:
    from credit_ledger.infra import declare_streams

    if settings.infra.nats_url is None:
        print("NATS_URL is not set", file=sys.stderr)
        return 2
    asyncio.run(declare_streams(settings.infra.nats_url, settings.infra.nats_stream_replicas))
    print("JetStream streams declared")
    return 0


def _serve(settings: Settings) -> int:
    from credit_ledger.ledger_processes import serve_ledger

    return serve_ledger(settings)


def _relay(settings: Settings) -> int:
    from services.common.lifecycle import run_service
    from services.ledger.relay import run_relay_process

    try:
        return run_service(run_relay_process(settings))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _projector(
    settings: Settings, *, rebuild_first: bool, only_partition: int | None, serve: bool
) -> int:
    import uvicorn

    from proto.partitions import Partition
    from services.projector.app import PROJECTOR_ROLE, create_projector_app
    from services.projector.rebuild import (
        ProjectorRunning,
        RebuildSpec,
        rebuild_partition,
        rebuild_reporting,
    )
    from services.projector.store import LayoutMismatch

    database_url, api_key = settings.infra.database_url, settings.projector.api_key
    if api_key is None or database_url is None:
        print(
            "the projector needs DATABASE_URL and CREDIT_LEDGER_PROJECTOR_API_KEY", file=sys.stderr
        )
        return 2
    count = settings.projector.partitions
    if rebuild_first:
        spec = RebuildSpec(database_url, settings.ledger.url, api_key, PROJECTOR_ROLE)
        try:
            if only_partition is None:
                asyncio.run(rebuild_reporting(spec, count))
            else:
                asyncio.run(rebuild_partition(spec, Partition(only_partition, count)))
        except (ProjectorRunning, LayoutMismatch, ValueError) as exc:
            print(str(exc), file=sys.stderr)
            return 1
    if not serve:
        return 0
    uvicorn.run(
        create_projector_app(settings),
        host=settings.http.host,
        port=settings.projector.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


async def _keys(database_url: str, args: argparse.Namespace) -> int:
    from services.ledger.api_keys import create_key, list_keys, revoke_key

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        if args.keys_command == "create":
            role = Role(args.role)
            if (role is Role.INSTITUTION) != (args.institution is not None):
                print(
                    "--institution is required for, and only for, --role institution",
                    file=sys.stderr,
                )
                return 2
            issued = await create_key(
                conn, role=role, name=args.name, institution_id=args.institution
            )
            print(issued.token)
            print(
                f"key id {issued.key_id} ({issued.role}); store the key now, it is not shown again",
                file=sys.stderr,
            )
            return 0
        if args.keys_command == "revoke":
            if await revoke_key(conn, args.key_id):
                print(f"revoked {args.key_id}")
                return 0
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
        for row in await list_keys(conn):
            state = "revoked" if row["revoked_at"] else "active"
            print(
                f"{row['key_id']}  {row['role']:<11} {row['institution_id'] or '-':<16} {state:<8} {row['name']}"
            )
        return 0
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
