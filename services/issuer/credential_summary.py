"""What a person reads off a credential: the qualification, its NSQF level and credits,
the issuing body, the award date and the components with their institutions (pure).

Everything comes from the signed credential itself (``achievement.build_credential``
wrote it), so a summary of a credential whose signature holds says only what the issuer
signed. Institution names are looked up by the caller from their ids; the learner is never
named, since the credential carries only a pseudonymous subject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The description ``achievement._evidence`` writes of each component.
_EVIDENCE = re.compile(
    r"^Assessment (?P<assessment>.+) passed at (?P<institution>\S+) \((?P<mode>\w+)\),"
    r" NSQF level (?P<level>[0-9.]+), (?P<hours>\d+) notional hours \((?P<credits>[0-9./]+) credits\)\.$"
)


@dataclass(frozen=True)
class Component:
    code: str
    title: str
    institution_id: str | None
    mode: str | None
    level: str | None
    hours: int | None
    credits: str | None
    description: str  # as signed, for a component this format does not parse


@dataclass(frozen=True)
class CredentialSummary:
    credential_id: str
    title: str
    description: str
    qualification_code: str
    achievement_type: str
    nsqf_level: str | None
    credits_earned: str
    credit_points: str | None
    issuer_name: str
    issuer_url: str | None
    awarded_on: str  # YYYY-MM-DD
    components: tuple[Component, ...]

    def institution_ids(self) -> set[str]:
        return {c.institution_id for c in self.components if c.institution_id}


class NotASummary(ValueError):
    """The payload is not a credential of the shape this issuer signs."""


def summarize_credential(payload: Mapping[str, Any]) -> CredentialSummary:
    try:
        subject = payload["credentialSubject"]
        achievement = subject["achievement"]
        issuer = payload["issuer"]
        level = next(
            (a.get("targetCode") for a in achievement.get("alignment", []) if isinstance(a, dict)),
            None,
        )
        points = next(
            (r.get("value") for r in subject.get("result", []) if isinstance(r, dict)), None
        )
        return CredentialSummary(
            credential_id=str(payload["id"]),
            title=str(achievement.get("name") or payload["name"]),
            description=str(achievement.get("description", "")),
            qualification_code=str(achievement.get("humanCode", "")),
            achievement_type=str(achievement.get("achievementType", "")),
            nsqf_level=None if level is None else str(level),
            credits_earned=_number(subject.get("creditsEarned")),
            credit_points=None if points is None else str(points),
            issuer_name=str(issuer.get("name") or issuer["id"]),
            issuer_url=issuer.get("url"),
            awarded_on=str(payload.get("awardedDate") or payload["validFrom"])[:10],
            components=tuple(_component(e) for e in payload.get("evidence", [])),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise NotASummary(f"not an achievement credential of this issuer: {error}") from error


def _number(value: Any) -> str:
    return "" if value is None else f"{value}"


def _component(evidence: Mapping[str, Any]) -> Component:
    name = str(evidence.get("name", ""))
    code, _, title = name.partition(": ")
    description = str(evidence.get("description", ""))
    parsed = _EVIDENCE.match(description)
    if parsed is None:
        return Component(code, title or code, None, None, None, None, None, description)
    return Component(
        code=code,
        title=title or code,
        institution_id=parsed["institution"],
        mode=parsed["mode"],
        level=parsed["level"],
        hours=int(parsed["hours"]),
        credits=parsed["credits"],
        description=description,
    )
