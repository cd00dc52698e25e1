"""Named example events, the way the domain speaks (Eventide's "controls")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from credit_ledger.demo_catalog import demo_events
from proto import events as ev

CNC_LEARNER = "123456789012"
OTHER_LEARNER = "210987654321"
NSTI = "NSTI-CHENNAI"
ATI = "ATI-MUMBAI"
IHM = "IHM-GOA"
# The five modules of ADV-CNC-MACHINING (the demo catalog): (institution, code, assessed on).
CNC_MODULES = [
    (NSTI, "CNC-FUND", "2026-01-15"),
    (NSTI, "CNC-PROG", "2026-03-20"),
    (ATI, "CNC-ADV", "2026-05-10"),
    (ATI, "CNC-MAINT", "2026-07-05"),
    (ATI, "CNC-QC", "2026-09-01"),
]


def new_id() -> str:
    return str(uuid.uuid4())


def catalog_batch() -> dict[str, Any]:
    """The demo catalog as one batch request body."""
    return {
        "events": [
            {"event_id": event_id, "event": msgspec.to_builtins(event)}
            for event_id, event in demo_events()
        ]
    }


def assessment_passed(
    *,
    assessment_id: str | None = None,
    learner_id: str = CNC_LEARNER,
    institution_id: str = NSTI,
    code: str = "CNC-FUND",
    mode: str = "training",
    assessed_on: dt.date | str = "2026-03-01",
) -> dict[str, Any]:
    return {
        "type": "AssessmentPassed",
        "assessment_id": assessment_id or f"ASMT-{uuid.uuid4().hex[:12]}",
        "learner_id": learner_id,
        "institution_id": institution_id,
        "micro_credential_code": code,
        "mode": mode,
        "assessed_on": str(assessed_on),
    }


def credential_issued(
    *,
    assessment_id: str,
    credential_id: str | None = None,
    learner_id: str = CNC_LEARNER,
    institution_id: str = NSTI,
    code: str = "CNC-FUND",
    issued_on: str = "2026-03-02",
) -> dict[str, Any]:
    return {
        "type": "CredentialIssued",
        "credential_id": credential_id or f"CERT-{uuid.uuid4().hex[:12]}",
        "assessment_id": assessment_id,
        "learner_id": learner_id,
        "institution_id": institution_id,
        "micro_credential_code": code,
        "issued_on": issued_on,
    }


def assessment_revoked(
    *, assessment_id: str, learner_id: str = CNC_LEARNER, institution_id: str = NSTI
) -> dict[str, Any]:
    return {
        "type": "AssessmentRevoked",
        "assessment_id": assessment_id,
        "learner_id": learner_id,
        "institution_id": institution_id,
        "reason": "malpractice found on review",
    }


def credits_redeemed(
    *,
    passes: list[tuple[str, str]],
    learner_id: str = CNC_LEARNER,
    institution_id: str = ATI,
    redemption_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "CreditsRedeemed",
        "redemption_id": redemption_id or f"RDM-{uuid.uuid4().hex[:8]}",
        "learner_id": learner_id,
        "institution_id": institution_id,
        "passes": [{"institution_id": i, "assessment_id": a} for i, a in passes],
        "programme": "B.Voc. Manufacturing",
    }


def append_body(
    event: dict[str, Any], *, event_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"event_id": event_id or new_id(), "event": event, **extra}


__all__ = ["ev"]


def institution_registered(
    *,
    institution_id: str,
    sectors: list[str],
    max_level: str,
    name: str = "Example Institute",
    kind: str = "training_provider",
) -> dict[str, Any]:
    return {
        "type": "InstitutionRegistered",
        "institution_id": institution_id,
        "name": name,
        "kind": kind,
        "accredited_sectors": sectors,
        "max_level": max_level,
    }


def micro_credential_defined(
    *,
    code: str = "CNC-FUND",
    version: int = 1,
    sector: str = "CAPITAL-GOODS",
    level: str = "4",
    notional_hours: int = 60,
    learning_outcomes: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "type": "MicroCredentialDefined",
        "code": code,
        "version": version,
        "title": f"Micro-credential {code}",
        "sector": sector,
        "level": level,
        "notional_hours": notional_hours,
        "learning_outcomes": learning_outcomes or [],
    }


def qualification_awarded(
    *, learner_id: str = CNC_LEARNER, qualification_code: str = "ADV-CNC-MACHINING"
) -> dict[str, Any]:
    return {
        "type": "QualificationAwarded",
        "award_id": new_id(),
        "learner_id": learner_id,
        "qualification_code": qualification_code,
        "qualification_version": 1,
        "award_generation": 0,
        "components": [],
        "counted_hours": 0,
        "credit_points": "0",
        "decided_at_position": 1,
    }
