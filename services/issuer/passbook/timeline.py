"""The learner's history as a page reads it (pure): each event of their stream, in log
order, with what happened and why it does or does not count now.

Whether a pass counts is the projector's answer (the bank's ``valid``, ``expired``,
``revoked`` and ``redeemed`` lists), never decided again here: the page explains the bank,
it does not recompute it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PassKey = tuple[str, str]  # (institution id, assessment id)


@dataclass(frozen=True)
class Entry:
    position: int
    recorded_on: str  # YYYY-MM-DD
    headline: str
    explanation: str
    counts: bool | None  # a pass that counts now, one that does not, or not a pass


@dataclass(frozen=True)
class Names:
    """The catalog's titles and the institutions' names (the page never shows bare ids
    where it has a name)."""

    titles: Mapping[str, str]
    institutions: Mapping[str, str]

    def title(self, code: str) -> str:
        return f"{self.titles.get(code, code)} ({code})"

    def institution(self, institution_id: str) -> str:
        return self.institutions.get(institution_id, institution_id)


def standing_of_passes(bank: Mapping[str, Any]) -> dict[PassKey, str]:
    """Each pass's standing in the bank: valid, expiring, expired, revoked or redeemed."""
    standing: dict[PassKey, str] = {}
    for status in ("valid", "expiring_within_12_months", "expired", "revoked", "redeemed"):
        for p in bank.get(status, []):
            standing[(p["institution_id"], p["assessment_id"])] = status
    return standing


def passes_by_key(bank: Mapping[str, Any]) -> dict[PassKey, Mapping[str, Any]]:
    found: dict[PassKey, Mapping[str, Any]] = {}
    for status in ("valid", "expired", "revoked", "redeemed"):
        for p in bank.get(status, []):
            found[(p["institution_id"], p["assessment_id"])] = p
    return found


def timeline(
    events: Sequence[Mapping[str, Any]], bank: Mapping[str, Any] | None, names: Names
) -> list[Entry]:
    """Newest first."""
    standing = standing_of_passes(bank or {})
    passes = passes_by_key(bank or {})
    entries = [_entry(e, standing, passes, names) for e in events]
    return entries[::-1]


def _entry(
    event: Mapping[str, Any],
    standing: Mapping[PassKey, str],
    passes: Mapping[PassKey, Mapping[str, Any]],
    names: Names,
) -> Entry:
    data, kind = event["data"], event["type"]
    position, on = int(event["position"]), str(event["recorded_at"])[:10]
    if kind == "AssessmentPassed":
        key = (data["institution_id"], data["assessment_id"])
        headline = (
            f"Passed {names.title(data['micro_credential_code'])} at"
            f" {names.institution(data['institution_id'])}"
            f" ({'recognition of prior learning' if data['mode'] == 'rpl' else 'training'}),"
            f" assessed {data['assessed_on']}"
        )
        explanation, counts = _why(standing.get(key), passes.get(key))
        return Entry(position, on, headline, explanation, counts)
    if kind == "AssessmentRevoked":
        headline = f"{names.institution(data['institution_id'])} revoked assessment {data['assessment_id']}"
        return Entry(position, on, headline, f"Reason given: {data['reason']}", None)
    if kind == "CredentialIssued":
        headline = (
            f"{names.institution(data['institution_id'])} issued certificate"
            f" {data['credential_id']} for {names.title(data['micro_credential_code'])}"
        )
        return Entry(position, on, headline, "", None)
    if kind == "CredentialRevoked":
        headline = f"Certificate {data['credential_id']} was revoked"
        return Entry(position, on, headline, f"Reason given: {data['reason']}", None)
    if kind == "QualificationAwarded":
        headline = f"Awarded {names.title(data['qualification_code'])}"
        explanation = (
            f"Its rule (version {data['qualification_version']}) was met by"
            f" {len(data['components'])} components; the issuer signed its credential."
        )
        return Entry(position, on, headline, explanation, None)
    if kind == "QualificationRevoked":
        headline = f"The award of {names.title(data['qualification_code'])} was revoked"
        return Entry(position, on, headline, f"Reason given: {data['reason']}", None)
    if kind == "CreditsRedeemed":
        headline = f"Credits redeemed into {data['programme']}"
        explanation = (
            f"{len(data['passes'])} passes were used for it at"
            f" {names.institution(data['institution_id'])} and count no more."
        )
        return Entry(position, on, headline, explanation, None)
    if kind == "ConsentGranted":
        until = data.get("valid_until")
        headline = (
            f"You let {names.institution(data['grantee_institution_id'])} read your whole record"
        )
        explanation = (
            f"Until {until}, unless you withdraw it." if until else "Until you withdraw it."
        )
        return Entry(position, on, headline, explanation, None)
    if kind == "ConsentWithdrawn":
        return Entry(position, on, "You withdrew a grant to read your whole record", "", None)
    return Entry(position, on, kind, "", None)


def _why(status: str | None, found: Mapping[str, Any] | None) -> tuple[str, bool | None]:
    if status is None or found is None:
        return "Not in your bank yet: the projector has not applied it.", None
    credits = found["credits"]["display"]
    level, ends = found["level"], found["expires_on"]
    if status == "valid":
        return f"Counts: {credits} credits at NSQF level {level}, until {ends}.", True
    if status == "expiring_within_12_months":
        return (
            f"Counts: {credits} credits at NSQF level {level}, but only until {ends}:"
            " its shelf life ends within a year.",
            True,
        )
    if status == "expired":
        return f"No longer counts: its shelf life ended on {ends}.", False
    if status == "revoked":
        return "Does not count: the institution revoked it.", False
    return "Counts no more: its credits were redeemed.", False
