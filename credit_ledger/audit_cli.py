"""``credit-ledger audit ...``: replay a learner, verify the chain, check proofs offline.

    replay --learner ID [--as-of POSITION|TIME] [--json]   the ledger's HTTP API, auditor key
    verify [--file export.ndjson]                          DATABASE_URL, or an export
    check-inclusion --bundle | --head --proof --event --previous-hash, --jwks   offline
    check-consistency --old --new --proof --jwks                    offline
    rebuild-tree                                           DATABASE_URL, as the owner
    build-tree                                             run the TreeBuilder here (DATABASE_URL)
    keygen PATH                                            a new tree-signing key

Exit status: 0 verified (or done), 1 a check failed (the reason is printed), 2 a usage or
configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import msgspec
from tqdm import tqdm

from credit_ledger.help_text import command
from credit_ledger.stack_file import not_set
from services.common.lifecycle import run_service
from services.common.settings import AuditSettings, Settings
from services.ledger.audit.offline import Verdict, check_consistency, check_inclusion
from services.ledger.audit.schemas import ConsistencyProof, InclusionProof, JsonWebKeySet
from services.ledger.audit.tree_head import TreeHead

if TYPE_CHECKING:
    from domain.views import LearnerBank, PassView
    from services.ledger.audit.verify import VerifyResult

T = TypeVar("T")
INPUT_BYTES_MAX = 16 * 1024 * 1024
REBUILD_BATCH_MAX = 10_000


def add_parser(sub: Any) -> None:
    """Register ``audit`` and its sub-commands on the main parser's subparsers."""
    audit = sub.add_parser("audit", help="replay learners, verify the chain, check proofs")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    replay = command(
        commands,
        "replay",
        "a learner's credit bank and award decisions at any point, through the ledger's API",
        examples=[
            "credit-ledger audit replay --learner 123456789012",
            "credit-ledger audit replay --learner 123456789012 --as-of 40 --json",
            "credit-ledger audit replay --learner 123456789012 --as-of-date 2026-06-30",
        ],
        env=[
            "CREDIT_LEDGER_AUDIT_API_KEY  an auditor key (credit-ledger keys create --role auditor)",
            "CREDIT_LEDGER_AUDIT_URL      the ledger (the dev stack's, if unset and it runs)",
        ],
    )
    replay.add_argument("--learner", required=True, help="the learner id")
    replay.add_argument(
        "--as-of", help="a log position, or a time with a zone (2026-03-01T00:00:00Z)"
    )
    replay.add_argument(
        "--as-of-date",
        help="the other axis: the learner's standing on this day (YYYY-MM-DD), as the ledger"
        " knows it now (passes assessed by then, however late they were recorded)",
    )
    replay.add_argument("--json", action="store_true", help="the projector API's JSON shape")

    verify = command(
        commands,
        "verify",
        "recompute the hash chain from the database, or from an NDJSON export",
        examples=[
            "credit-ledger audit verify",
            'curl -s $BASE/v1/log/ndjson -H "Authorization: Bearer $AUDITOR" > log.ndjson',
            "credit-ledger audit verify --file log.ndjson",
        ],
        env=["DATABASE_URL  the ledger's PostgreSQL (not read with --file)"],
        dev_stack=True,
    )
    verify.add_argument("--file", type=Path, help="an export from GET /v1/log/ndjson")

    _add_proof_checks(commands)
    _add_tree_commands(commands)


def _add_proof_checks(commands: Any) -> None:
    inclusion = command(
        commands,
        "check-inclusion",
        "offline: an event is in the tree of a signed head",
        examples=[
            "credit-ledger audit check-inclusion --bundle proof.json --jwks keys.json",
            "credit-ledger audit check-inclusion --head head.json --proof proof.json"
            " --event event.json --previous-hash <hex> --jwks keys.json",
        ],
    )
    inclusion.add_argument(
        "--bundle",
        type=Path,
        help="all but the keys in one file: GET /v1/learners/{id}/inclusion-proof (the"
        " passbook's download); instead of --head, --proof, --event and --previous-hash",
    )
    inclusion.add_argument("--head", type=Path, help="a signed tree head (JSON)")
    inclusion.add_argument("--proof", type=Path, help="GET /v1/audit/proofs/inclusion")
    inclusion.add_argument("--event", type=Path, help="the event (RecordedEvent JSON)")
    inclusion.add_argument("--previous-hash", help="the chain hash of the event before it (hex)")
    inclusion.add_argument("--jwks", type=Path, required=True, help="GET /v1/audit/keys")

    consistency = command(
        commands,
        "check-consistency",
        "offline: a newer signed head extends an older one",
        examples=[
            "credit-ledger audit check-consistency --old old.json --new new.json"
            " --proof proof.json --jwks keys.json"
        ],
    )
    consistency.add_argument("--old", type=Path, required=True, help="the older signed head")
    consistency.add_argument("--new", type=Path, required=True, help="the newer signed head")
    consistency.add_argument(
        "--proof", type=Path, required=True, help="GET /v1/audit/proofs/consistency"
    )
    consistency.add_argument("--jwks", type=Path, required=True, help="GET /v1/audit/keys")


def _add_tree_commands(commands: Any) -> None:
    command(
        commands,
        "rebuild-tree",
        "recompute the Merkle tree from the log, as the database's owner",
        examples=["credit-ledger audit rebuild-tree"],
        env=["DATABASE_URL  as the owner of the ledger's tables"],
        dev_stack=True,
    )
    command(
        commands,
        "build-tree",
        "run the tree builder (and periodic heads) in this process until stopped, e.g. with"
        " CREDIT_LEDGER_TREE_BUILDER_ENABLED=false on the ledger",
        examples=["credit-ledger audit build-tree"],
        env=["DATABASE_URL", "CREDIT_LEDGER_TREE_SIGNING_KEY_FILE  the key heads are signed with"],
        dev_stack=True,
    )
    keygen = command(
        commands,
        "keygen",
        "write a new Ed25519 tree-signing key (PEM)",
        examples=["credit-ledger audit keygen tree-signing-key.pem"],
    )
    keygen.add_argument("path", type=Path)


def run(settings: Settings, args: argparse.Namespace) -> int:
    command: str = args.audit_command
    if command == "check-inclusion":
        if args.bundle is not None:
            return check_bundle_command(args.bundle, args.jwks)
        missing = [
            flag
            for flag, value in (
                ("--head", args.head),
                ("--proof", args.proof),
                ("--event", args.event),
                ("--previous-hash", args.previous_hash),
            )
            if value is None
        ]
        if missing:
            print(f"give --bundle, or all of {', '.join(missing)}", file=sys.stderr)
            return 2
        return check_inclusion_command(
            args.head, args.proof, args.event, args.previous_hash, args.jwks
        )
    if command == "check-consistency":
        return check_consistency_command(args.old, args.new, args.proof, args.jwks)
    if command == "keygen":
        return keygen_command(args.path)
    if command == "replay":
        return _replay(settings, args)
    database_url = settings.infra.database_url
    if database_url is None and not (command == "verify" and args.file is not None):
        return not_set("DATABASE_URL", settings.infra.data_dir)
    if command == "verify":
        return verify_command(database_url, args.file)
    if command == "build-tree":
        return _until_interrupted(build_tree_command(settings.audit, str(database_url)))
    return asyncio.run(rebuild_tree_command(str(database_url)))


def _until_interrupted(command: Coroutine[Any, Any, int]) -> int:
    try:
        return run_service(command)
    except KeyboardInterrupt:
        return 0


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2."""


# --- replay ------------------------------------------------------------------------------


def parse_as_of(text: str | None) -> int | dt.datetime | None:
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--as-of {text!r} is neither a position nor an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise UsageError(f"--as-of {text!r} needs a time zone, e.g. {text}Z")
    return moment


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    audit = settings.audit
    if audit.api_key is None:
        print("CREDIT_LEDGER_AUDIT_API_KEY is not set (an auditor key)", file=sys.stderr)
        return 2
    try:
        as_of = parse_as_of(args.as_of)
        on_date = parse_day(args.as_of_date)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    if as_of is not None and on_date is not None:
        print("give --as-of or --as-of-date, not both", file=sys.stderr)
        return 2
    point = on_date if on_date is not None else as_of
    return asyncio.run(replay_command(audit.url, audit.api_key, args.learner, point, args.json))


def parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of-date {text!r} is not a date (YYYY-MM-DD)") from None


async def replay_command(
    base_url: str,
    api_key: str,
    learner_id: str,
    as_of: int | dt.datetime | dt.date | None,
    as_json: bool,
    out: TextIO | None = None,
) -> int:
    out = sys.stdout if out is None else out
    from services.common.ledger_client import LedgerClient, LedgerError
    from services.ledger.audit.replay import replay_learner

    reader = LedgerClient(base_url, api_key)
    try:
        answer = await replay_learner(reader, learner_id, as_of)
    except LedgerError as error:
        print(f"cannot read the ledger: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    finally:
        await reader.close()
    if answer is None:
        print(f"no events for learner {learner_id} as of that point", file=sys.stderr)
        return 1
    if as_json:
        out.write(msgspec.json.format(msgspec.json.encode(answer), indent=2).decode() + "\n")
    else:
        out.write(render_replay(answer))
    return 0


def _pass_line(p: PassView) -> str:
    return (
        f"    {p.micro_credential_code} ({p.institution_id}/{p.assessment_id}, {p.mode}, "
        f"level {p.level}): {p.notional_hours} h = {p.credits.display} credits, "
        f"assessed {p.assessed_on}, expires {p.expires_on}, position {p.position}"
    )


def render_replay(answer: LearnerBank) -> str:
    bank = answer.credit_bank
    lines = [
        f"learner {bank.learner_id} as of position {answer.as_of_position} "
        f"(event time {answer.as_of_time.isoformat()})",
        f"credit bank on {bank.on}: {bank.total_credits.display} credits ({bank.total_hours} h),"
        f" credit points {bank.credit_points.display}",
    ]
    for title, passes in (
        ("valid", bank.valid),
        ("expired", bank.expired),
        ("revoked", bank.revoked),
        ("redeemed", bank.redeemed),
    ):
        if passes:
            lines.append(f"  {title}:")
            lines.extend(_pass_line(p) for p in passes)
    for award in bank.qualifications:
        lines.append(
            f"  holds {award.qualification_code} v{award.qualification_version} "
            f"(award {award.award_id}, position {award.position})"
        )
    lines.append("award decisions:" if answer.progress else "award decisions: none relevant")
    for decision in answer.progress:
        lines.append(f"  {decision.explanation[0]}")
        lines.extend(f"    {line}" for line in decision.explanation[1:])
    return "\n".join(lines) + "\n"


# --- verify ------------------------------------------------------------------------------


def verify_command(database_url: str | None, export: Path | None, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    # Verification allocates millions of short-lived dicts and never a cycle; the cyclic
    # collector would only rescan them (about a fifth of the time).
    gc.disable()
    try:
        if export is not None:
            return _verify_file(export, out)
        return asyncio.run(verify_database_command(str(database_url), out))
    finally:
        gc.enable()


def _verify_file(export: Path, out: TextIO) -> int:
    from services.ledger.audit.verify import verify_export

    if not export.is_file():
        print(f"no export file {export}", file=sys.stderr)
        return 2
    with tqdm(unit="ev", unit_scale=True, desc="verify", disable=None) as bar:
        result = verify_export(export, progress=bar.update)
    return report_verification(result, out)


async def verify_database_command(database_url: str, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    from services.common.db import connect
    from services.ledger.audit.verify import log_head_position, verify_database

    conn = await connect(database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            total = await log_head_position(conn)
            with tqdm(total=total, unit="ev", unit_scale=True, desc="verify", disable=None) as bar:
                result = await verify_database(conn, progress=bar.update)
    finally:
        await conn.close()
    return report_verification(result, out)


def report_verification(result: VerifyResult, out: TextIO) -> int:
    rate = result.matched / result.elapsed_s if result.elapsed_s > 0 else 0.0
    if result.finding is None:
        out.write(
            f"ok: {result.matched} events, the chain holds; head position {result.matched} "
            f"hash {result.head_hash} ({rate:,.0f} events/s)\n"
        )
        return 0
    out.write(
        f"MISMATCH at position {result.finding.position}: {result.finding.reason}\n"
        f"positions 1..{result.matched} verified\n"
    )
    return 1


# --- offline checks ----------------------------------------------------------------------


def _read(path: Path, kind: type[T], what: str) -> T:
    try:
        with path.open("rb") as source:
            raw = source.read(INPUT_BYTES_MAX + 1)
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error}") from error
    if len(raw) > INPUT_BYTES_MAX:
        raise UsageError(f"{path} is larger than {INPUT_BYTES_MAX} bytes")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as error:
        raise UsageError(f"{path} is not {what}: {error}") from error


def _report(verdict: Verdict, out: TextIO) -> int:
    out.write(("ok: " if verdict.ok else "FAILED: ") + verdict.reason + "\n")
    return 0 if verdict.ok else 1


def check_inclusion_command(
    head: Path, proof: Path, event: Path, previous_hash: str, jwks: Path, out: TextIO | None = None
) -> int:
    try:
        return _inclusion_checked(
            _read(head, TreeHead, "a signed tree head"),
            _read(proof, InclusionProof, "an inclusion proof"),
            _read(event, dict[str, Any], "an event"),
            previous_hash,
            jwks,
            out,
        )
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2


class _Bundle(msgspec.Struct, frozen=True):
    """An inclusion bundle (the ledger's ``InclusionBundle``) as the offline check reads
    it: the event stays JSON builtins, from which its canonical bytes are recomputed."""

    event: dict[str, Any]
    previous_hash: str
    tree_head: TreeHead
    proof: InclusionProof


def check_bundle_command(bundle: Path, jwks: Path, out: TextIO | None = None) -> int:
    """``check-inclusion`` of an inclusion bundle (the four parts in one file)."""
    try:
        parts = _read(bundle, _Bundle, "an inclusion bundle")
        return _inclusion_checked(
            parts.tree_head, parts.proof, parts.event, parts.previous_hash, jwks, out
        )
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2


def _inclusion_checked(
    head: TreeHead,
    proof: InclusionProof,
    event: dict[str, Any],
    previous_hash: str,
    jwks: Path,
    out: TextIO | None,
) -> int:
    try:
        previous = bytes.fromhex(previous_hash)
    except ValueError:
        print(f"the previous hash {previous_hash!r} is not hex", file=sys.stderr)
        return 2
    verdict = check_inclusion(head, proof, event, previous, _read(jwks, JsonWebKeySet, "a JWK set"))
    return _report(verdict, sys.stdout if out is None else out)


def check_consistency_command(
    old: Path, new: Path, proof: Path, jwks: Path, out: TextIO | None = None
) -> int:
    out = sys.stdout if out is None else out
    try:
        verdict = check_consistency(
            _read(old, TreeHead, "a signed tree head"),
            _read(new, TreeHead, "a signed tree head"),
            _read(proof, ConsistencyProof, "a consistency proof"),
            _read(jwks, JsonWebKeySet, "a JWK set"),
        )
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    return _report(verdict, out)


# --- operating the tree ------------------------------------------------------------------


async def rebuild_tree_command(database_url: str, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    import asyncpg

    from services.ledger.audit.node_store import reset_tree
    from services.ledger.audit.tree_build import build_step

    # As the owner (DATABASE_URL's user, no role switch): the application role may not
    # delete tree nodes.
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM ledger.events")
        await reset_tree(conn)
        mismatches, size = 0, 0
        with tqdm(total=head, unit="leaf", desc="rebuild-tree", disable=None) as bar:
            while (step := await build_step(conn, REBUILD_BATCH_MAX)).leaves:
                mismatches += step.mismatch_count
                bar.update(step.tree_size - size)
                size = step.tree_size
                if step.mismatches and mismatches == step.mismatch_count:
                    first = step.mismatches[0]
                    out.write(f"chain mismatch from position {first.position}\n")
    finally:
        await conn.close()
    out.write(f"rebuilt the tree: {size} leaves, {mismatches} chain mismatches\n")
    return 0


async def build_tree_command(settings: AuditSettings, database_url: str) -> int:
    """The ledger's TreeBuilder, out of the ledger's process: only one builds at a time
    (advisory lock), so this may run beside ledgers that build too."""
    from prometheus_client import CollectorRegistry

    from services.common import db
    from services.common.lifecycle import running, until_signalled
    from services.common.shared_metrics import process_stopped
    from services.ledger.audit.head_store import register_key
    from services.ledger.audit.metrics import AuditMetrics
    from services.ledger.audit.signing import load_signer
    from services.ledger.audit.tree_builder import TreeBuilder, TreeBuilderConfig

    key_file = settings.tree_signing_key_file
    signer = load_signer(key_file) if key_file is not None else None
    if signer is not None:
        conn = await db.connect(database_url)
        try:
            await register_key(conn, signer)
        finally:
            await conn.close()
    builder = TreeBuilder(
        TreeBuilderConfig(
            batch_max=settings.tree_batch_max,
            head_interval_s=settings.tree_head_interval_s,
            build_interval_s=settings.tree_build_interval_s,
        ),
        signer,
        AuditMetrics(CollectorRegistry()),
        lambda: db.connect(database_url),
    )
    try:
        async with running(builder):
            await until_signalled()
    finally:
        process_stopped()
    return 0


def keygen_command(path: Path, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    from services.ledger.audit.signing import create_key_file

    try:
        signer = create_key_file(path)
    except FileExistsError:
        print(f"{path} exists; a signing key is never overwritten", file=sys.stderr)
        return 2
    out.write(f"wrote {path} (key id {signer.key_id})\n")
    return 0
