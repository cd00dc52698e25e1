"""A verification said in plain words (pure): what a reader should conclude, why, and what
the credential says when its content can be trusted.

Only a credential whose signature holds under a key this issuer publishes is summarized;
of any other nothing is shown, since its content may have been altered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.issuer.credential_summary import CredentialSummary, NotASummary, summarize_credential
from services.issuer.credentials.vc_jwt import Check, VerificationReport

CHECK_LABELS = (
    ("signature", "Signature"),
    ("issuer_key", "Issuer key"),
    ("validity", "Validity"),
    ("status", "Status"),
)


@dataclass(frozen=True)
class Revocation:
    """What this issuer recorded of a revocation: when, and the reason given."""

    revoked_at: dt.datetime
    reason: str | None


@dataclass(frozen=True)
class Outcome:
    state: str  # valid, revoked or invalid
    headline: str
    explanation: tuple[str, ...]
    checks: tuple[tuple[str, Check], ...]
    summary: CredentialSummary | None
    kid: str | None
    alg: str | None


def outcome_of(
    report: VerificationReport,
    payload: Mapping[str, Any] | None,
    revocation: Revocation | None = None,
) -> Outcome:
    checks = tuple((label, getattr(report, name)) for name, label in CHECK_LABELS)
    trusted = report.signature.ok and report.issuer_key.ok
    summary = _summary(payload) if trusted else None
    issuer = summary.issuer_name if summary else "the issuer"
    if report.valid:
        since = f" since {summary.awarded_on}" if summary else ""
        return Outcome(
            "valid",
            "Genuine and in force",
            (
                f"Issued by {issuer} and signed with a key it publishes; in force{since};"
                " not revoked.",
            ),
            checks,
            summary,
            report.kid,
            report.alg,
        )
    if trusted and report.validity.ok and not report.status.ok:
        if revocation is not None:
            reason = f": {revocation.reason.rstrip('.')}." if revocation.reason else "."
            said = f"It was genuine, but {issuer} revoked it on {revocation.revoked_at:%Y-%m-%d}{reason}"
        else:
            said = f"It was genuine, but {issuer}'s status list marks it revoked."
        return Outcome(
            "revoked",
            "Revoked",
            (said, "A revoked credential no longer vouches for the qualification."),
            checks,
            summary,
            report.kid,
            report.alg,
        )
    # The first check that failed on its own (a check after it may say "not checked").
    failing = [check for _, check in checks if not check.ok]
    failed = next((c for c in failing if not c.reason.startswith("not checked")), failing[0])
    lines = [f"It cannot be relied on: {failed.reason}."]
    if summary is None:
        lines.append("What it claims is not shown, since its content cannot be trusted.")
    return Outcome("invalid", "Not valid", tuple(lines), checks, summary, report.kid, report.alg)


def _summary(payload: Mapping[str, Any] | None) -> CredentialSummary | None:
    if payload is None:
        return None
    try:
        return summarize_credential(payload)
    except NotASummary:
        return None
