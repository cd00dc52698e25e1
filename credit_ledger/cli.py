"""The ``credit-ledger`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from credit_ledger import audit_cli
from credit_ledger.help_text import command
from credit_ledger.stack_file import PROJECTOR_KEY_FILE, not_set, running_stack
from proto.envelope import Role
from services.common.logs import configure_logging
from services.common.settings import Settings, SettingsError, load_settings

DATABASE = "DATABASE_URL          the PostgreSQL of the ledger"
NATS = "NATS_URL              the NATS server (comma-separated for a cluster)"
DATA_DIR = "CREDIT_LEDGER_DATA_DIR  where the dev stack keeps its data (default .data)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-ledger",
        description="The credit ledger's command line: run the system, manage keys, audit.",
        epilog="Each command has --help, with examples and the environment it reads.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_commands(sub)
    _add_admin_commands(sub)
    _add_import_commands(sub)
    contracts = command(
        sub,
        "contracts",
        "generate or check proto/ artefacts and docs/openapi*.json",
        examples=["credit-ledger contracts check", "credit-ledger contracts generate"],
    )
    contracts.add_argument("action", choices=["generate", "check"])
    audit_cli.add_parser(sub)
    return parser


def _add_run_commands(sub: Any) -> None:
    """dev, serve, relay, projector, issuer: what runs the system."""

    dev = command(
        sub,
        "dev",
        "run the whole system (embedded PostgreSQL and NATS when no URLs are set)",
        examples=["make run", "credit-ledger dev --fresh      # start from an empty data dir"],
        env=[DATA_DIR, f"{DATABASE}, if set", f"{NATS}, if set"],
    )
    dev.add_argument("--fresh", action="store_true", help="delete the data directory first")
    dev.add_argument("--no-demo", action="store_true", help="do not load the demo catalog")

    command(
        sub,
        "serve",
        "run the ledger service: CREDIT_LEDGER_WORKERS HTTP processes, the relay and the"
        " tree builder",
        examples=["DATABASE_URL=postgresql://... NATS_URL=nats://... credit-ledger serve"],
        env=[DATABASE, NATS, "CREDIT_LEDGER_WORKERS  HTTP processes (default 1)"],
    )
    command(
        sub,
        "relay",
        "run only the relay (PostgreSQL log -> JetStream) until stopped; serve starts one",
        examples=["credit-ledger relay"],
        env=[DATABASE, NATS],
    )
    projector = sub.add_parser("projector", help="run or rebuild the projector")
    projector_sub = projector.add_subparsers(dest="projector_command", required=True)
    command(
        projector_sub,
        "serve",
        "consume the log live and answer credit banks and progress",
        examples=["credit-ledger projector serve"],
        env=[DATABASE, NATS, "CREDIT_LEDGER_PROJECTOR_API_KEY  an auditor key for the ledger"],
    )
    rebuild = command(
        projector_sub,
        "rebuild",
        "rebuild the read model from the ledger's log (every partition, one process each),"
        " then serve; stop the running projector first",
        examples=[
            "credit-ledger projector rebuild --exit",
            "credit-ledger projector rebuild --partition 1 --exit",
        ],
        env=[
            DATABASE,
            "CREDIT_LEDGER_PROJECTOR_API_KEY  an auditor key (the dev stack's own, if unset)",
            "CREDIT_LEDGER_PROJECTOR_PARTITIONS  how many partitions (default 2)",
        ],
        dev_stack=True,
    )
    rebuild.add_argument(
        "--partition",
        type=int,
        help="rebuild only this partition (the other partitions' workers may keep running)",
    )
    rebuild.add_argument(
        "--exit", action="store_true", help="exit after the rebuild instead of serving"
    )
    issuer = sub.add_parser("issuer", help="run the issuer (awards, Open Badges 3.0 credentials)")
    issuer_sub = issuer.add_subparsers(dest="issuer_command", required=True)
    command(
        issuer_sub,
        "serve",
        "award qualifications and issue their credentials",
        examples=["credit-ledger issuer serve"],
        env=[DATABASE, NATS, "CREDIT_LEDGER_ISSUER_API_KEY  an issuer key for the ledger"],
    )


def _add_admin_commands(sub: Any) -> None:
    """migrate, nats, keys: what an operator runs against the system."""
    command(
        sub,
        "migrate",
        "apply pending database migrations",
        examples=["credit-ledger migrate"],
        env=[DATABASE],
        dev_stack=True,
    )

    nats = sub.add_parser("nats", help="JetStream administration")
    nats_sub = nats.add_subparsers(dest="nats_command", required=True)
    command(
        nats_sub,
        "declare",
        "declare the JetStream streams, or bring them to this version's settings",
        examples=["credit-ledger nats declare"],
        env=[NATS, "CREDIT_LEDGER_NATS_STREAM_REPLICAS  replicas of each stream (default 1)"],
        dev_stack=True,
    )

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = command(
        keys_sub,
        "create",
        "create a key and print it once (on stdout, alone)",
        examples=[
            "credit-ledger keys create --role institution --institution 123456789012 --name nsti",
            "AUDITOR=$(credit-ledger keys create --role auditor --name audits)",
        ],
        env=[DATABASE],
        dev_stack=True,
    )
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--institution", help="the institution of an institution key")
    create.add_argument("--name", default="cli", help="what the key is for")
    revoke = command(
        keys_sub,
        "revoke",
        "revoke a key by its key id (as keys list shows it)",
        examples=["credit-ledger keys revoke 0123456789abcdef"],
        env=[DATABASE],
        dev_stack=True,
    )
    revoke.add_argument("key_id")
    command(
        keys_sub,
        "list",
        "list keys (never their secrets)",
        examples=["credit-ledger keys list"],
        env=[DATABASE],
        dev_stack=True,
    )


IMPORTED = {
    "passes": "assessment passes (docs/sample-passes.csv shows the columns)",
    "credentials": "certificates issued for recorded passes (CredentialIssued)",
    "revocations": "revocations of recorded passes (AssessmentRevoked)",
    "credential-revocations": "revocations of issued certificates (CredentialRevoked)",
}


def _add_import_commands(sub: Any) -> None:
    """import passes, credentials, revocations: an institution's records from a spreadsheet."""
    from proto.csv_rows import KINDS

    imports = sub.add_parser("import", help="import an institution's records from CSV")
    imports_sub = imports.add_subparsers(dest="import_command", required=True)
    for name, what in IMPORTED.items():
        rows = command(
            imports_sub,
            name,
            f"record a CSV file of {what}, writing a report line per row; re-running it"
            f" writes nothing twice. Columns: {', '.join(KINDS[name].columns)}",
            examples=[
                f"credit-ledger import {name} {name}.csv --check    # validate only",
                f"credit-ledger import {name} {name}.csv --report {name}.report.csv",
            ],
            env=[
                "CREDIT_LEDGER_IMPORT_API_KEY  the institution's key (the rows are its own)",
                "CREDIT_LEDGER_LEDGER_URL      the ledger (the dev stack's, if unset and it runs)",
            ],
        )
        rows.add_argument("file", type=Path, help="CSV with a header row")
        rows.add_argument("--check", action="store_true", help="validate the rows, send nothing")
        rows.add_argument(
            "--report", type=Path, help="where the per-row report goes (default FILE.report.csv)"
        )
        rows.add_argument(
            "--batch-rows", type=int, default=500, help="rows per batch request (1 to 1000)"
        )


# Commands that reach the database or NATS and may use a running dev stack's.
USES_DEV_STACK = {"keys", "migrate", "nats", "audit", "projector", "import"}


def with_dev_stack(settings: Settings, command: str) -> Settings:
    """``settings`` with what the running dev stack provides in place of what is unset:
    the database and NATS URLs, the ledger's URL and the projector's key."""
    infra = settings.infra
    if command not in USES_DEV_STACK or (infra.database_url and infra.nats_url):
        return settings
    stack = running_stack(infra.data_dir)
    if stack is None:
        return settings
    infra = msgspec.structs.replace(
        infra,
        database_url=infra.database_url or stack.database_url,
        nats_url=infra.nats_url or stack.nats_url,
    )
    ledger = settings.ledger
    if "CREDIT_LEDGER_LEDGER_URL" not in os.environ:
        ledger = msgspec.structs.replace(ledger, url=stack.ledger_url)
    projector = settings.projector
    key_file = infra.data_dir / PROJECTOR_KEY_FILE
    if projector.api_key is None and key_file.exists():
        projector = msgspec.structs.replace(projector, api_key=key_file.read_text().strip())
    audit = settings.audit
    if "CREDIT_LEDGER_AUDIT_URL" not in os.environ:
        audit = msgspec.structs.replace(audit, url=stack.ledger_url)
    return msgspec.structs.replace(
        settings, infra=infra, ledger=ledger, projector=projector, audit=audit
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    command: str = args.command
    settings = with_dev_stack(settings, command)
    if command == "dev":
        from credit_ledger.devstack import run_dev

        return run_dev(settings, fresh=args.fresh, load_demo=not args.no_demo)
    if command == "contracts":
        return _contracts(args.action)
    if command == "nats":
        return _with_nats(settings)
    if command == "issuer":
        from services.issuer.__main__ import main as issuer_main

        return issuer_main([args.issuer_command])
    if command == "audit":
        return audit_cli.run(settings, args)
    if command == "import":
        return _import_rows(settings, args)
    database_url = settings.infra.database_url
    if database_url is None:
        return not_set("DATABASE_URL", settings.infra.data_dir)
    if command == "serve":
        return _serve(settings)
    if command == "relay":
        return _relay(settings)
    if command == "projector":
        rebuilding = args.projector_command == "rebuild"
        return _projector(
            settings,
            rebuild_first=rebuilding,
            only_partition=args.partition if rebuilding else None,
            serve=not (rebuilding and args.exit),
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


def _import_rows(settings: Settings, args: argparse.Namespace) -> int:
    from credit_ledger.csv_import import import_rows, write_report
    from proto.csv_rows import KINDS, all_in, summary

    api_key = os.environ.get("CREDIT_LEDGER_IMPORT_API_KEY")
    if not api_key:
        print("CREDIT_LEDGER_IMPORT_API_KEY is not set (the institution's key)", file=sys.stderr)
        return 2
    if not 1 <= args.batch_rows <= settings.ledger.batch_events_max:
        print(f"--batch-rows is 1 to {settings.ledger.batch_events_max}", file=sys.stderr)
        return 2
    report: Path = args.report or args.file.with_suffix(".report.csv")
    try:
        outcomes = asyncio.run(
            import_rows(
                args.file,
                settings.ledger.url,
                api_key,
                check=args.check,
                kind=KINDS[args.import_command],
                batch_rows=args.batch_rows,
            )
        )
    except (OSError, ValueError, PermissionError) as error:
        print(f"import stopped: {error}", file=sys.stderr)
        return 2
    except httpx.HTTPError as error:
        print(f"cannot reach the ledger at {settings.ledger.url}: {error}", file=sys.stderr)
        return 2
    with report.open("w", newline="") as out:
        write_report(outcomes, out)
    print(f"{summary(outcomes)}; report in {report}", file=sys.stderr)
    return 0 if all_in(outcomes) else 1


def _with_nats(settings: Settings) -> int:
    from credit_ledger.infra import declare_streams

    if settings.infra.nats_url is None:
        return not_set("NATS_URL", settings.infra.data_dir)
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
