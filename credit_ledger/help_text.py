"""What each command's ``--help`` ends with: examples that work as written against a
running ``make run``, and the environment variables the command reads."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

# Read by every command that reaches the database or NATS when the URLs are not exported.
DEV_STACK_NOTE = (
    "With DATABASE_URL / NATS_URL unset, the command uses the dev stack that `make run`\n"
    "(credit-ledger dev) keeps running in CREDIT_LEDGER_DATA_DIR (default .data)."
)


def command(
    sub: Any,
    name: str,
    summary: str,
    *,
    examples: Sequence[str] = (),
    env: Sequence[str] = (),
    dev_stack: bool = False,
) -> argparse.ArgumentParser:
    """A sub-command whose help shows ``examples`` and ``env`` verbatim after its options."""
    parts: list[str] = []
    if examples:
        parts.append("examples:\n" + "\n".join(f"  {line}" for line in examples))
    if env:
        parts.append("environment:\n" + "\n".join(f"  {line}" for line in env))
    if dev_stack:
        parts.append(DEV_STACK_NOTE)
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="\n\n".join(parts) or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser
