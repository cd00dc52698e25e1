"""Which awards a revocation takes with it: a pure cascade over the learner's history.

docs/architecture.md §1: "When a pass is revoked, every award that depended on it is re-evaluated with
what the learner still holds; an award that no longer holds is revoked, and so, in turn, is
every higher award that required it."

- An award is re-evaluated when one of its component passes is revoked, or when a
  qualification it required is no longer held. Components are transitive (a higher award
  lists the passes of the lower ones), so a revoked pass reaches every award built on it.
- Each award is judged by the rule version it names, with the learner's holdings today
  (revocations included, and any other pass that can stand in for the revoked one), at
  the event time of the award itself: an award does not lapse because a component's shelf
  life ended after it was made, nor because a pass was redeemed after it was made (a
  redemption only stops a pass from counting towards a *new* award).
- Awards are processed lowest first (in log order: a higher award always follows the
  lower ones it required), and each revocation is folded into the bank before the next
  award is judged, so a revoked certificate revokes the diploma that required it.

Ids are deterministic: revoking an award always has the event id of ``revocation_event_id``
and the reason names only the decision, never what triggered it, so replicas that cascade
from the same history ask the ledger for identical events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from domain.award_check import reevaluate_award
from domain.catalog import Catalog, Rule
from domain.credit_bank import CreditBank, HeldAward, PassKey, evolve
from domain.decision import Decision
from domain.units import display
from proto import events as ev
from services.issuer.history import LearnerHistory

# Fixed for ever: changing it would re-key every revocation ever appended.
REVOCATION_NAMESPACE = uuid.UUID("0c3e5a1f-7d2b-4b9e-8f61-2a4d9c7e3b58")
REASON_MAX_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Revocation:
    event: ev.QualificationRevoked
    event_id: str
    decision: Decision


def revocation_event_id(award_id: str) -> str:
    """An award is revoked at most once, so its id names the revocation."""
    return str(uuid.uuid5(REVOCATION_NAMESPACE, f"revoked/{award_id}"))


def cascade(history: LearnerHistory, catalog: Catalog) -> list[Revocation]:
    """The revocations the learner's current history calls for, lowest award first."""
    bank = history.bank()
    if bank.recorded_at is None:
        return []
    revoked_passes = {key for key, p in bank.passes.items() if p.revoked}
    revocations: list[Revocation] = []
    for award in sorted((a for a in bank.awards.values() if not a.revoked), key=_position):
        if not _affected(bank, award, revoked_passes):
            continue
        # Judged exactly as the ledger re-judges a rule_no_longer_holds revocation.
        decision = reevaluate_award(_rule_of(catalog, award), bank, award)
        if decision.satisfied:
            continue
        event = ev.QualificationRevoked(
            award_id=award.award_id,
            learner_id=bank.learner_id,
            qualification_code=award.qualification_code,
            reason=_reason(decision, history.position),
            reason_code=ev.RevocationReasonCode.RULE_NO_LONGER_HOLDS,
        )
        revocations.append(Revocation(event, revocation_event_id(award.award_id), decision))
        # A virtual position: the ledger assigns the real one; the fold only needs order.
        bank = evolve(bank, event, bank.position + 1, bank.recorded_at)
    return revocations


def _position(award: HeldAward) -> int:
    return award.position


def _affected(bank: CreditBank, award: HeldAward, revoked_passes: set[PassKey]) -> bool:
    if revoked_passes.intersection(award.components):
        return True
    return any(bank.held_award(code) is None for code in award.required_qualifications)


def _rule_of(catalog: Catalog, award: HeldAward) -> Rule:
    versions = catalog.rules.get(award.qualification_code, ())
    index = award.qualification_version - 1
    if not 0 <= index < len(versions):
        raise ValueError(
            f"award {award.award_id} names {award.qualification_code} "
            f"v{award.qualification_version}, which the catalog does not hold"
        )
    rule = versions[index]
    if rule.version != award.qualification_version:
        raise ValueError(f"catalog versions of {award.qualification_code} are out of order")
    return rule


def _reason(decision: Decision, position: int) -> str:
    parts = []
    if decision.missing_required:
        parts.append(f"missing required {', '.join(decision.missing_required)}")
    for group in decision.electives:
        if not group.met:
            parts.append(f"short by {group.short_by} of electives {', '.join(group.codes)}")
    if decision.counted_credits < decision.min_credits:
        parts.append(
            f"{display(decision.counted_credits)} of {decision.min_credits} credits counted"
        )
    reason = (
        f"{decision.qualification_code} v{decision.rule_version} no longer holds with what "
        f"the learner still holds (re-evaluated after position {position} as of "
        f"{_iso(decision.evaluated_at)}): {'; '.join(parts) or 'rule not satisfied'}"
    )
    return reason[:REASON_MAX_CHARS]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
