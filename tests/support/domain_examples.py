"""Named examples for the pure domain: real ``proto.events``, the way the domain speaks.

Passes carry the ``catalog_snapshot`` the ledger would have recorded from the demo catalog
(``credit_ledger.demo_catalog``); ``LearnerLog`` gives each event a log position and an
event time, as the ledger would.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import msgspec

from credit_ledger.demo_catalog import CAPITAL_GOODS, HOSPITALITY, IT, MICRO_CREDENTIALS
from credit_ledger.demo_catalog import demo_events as demo_catalog_events
from domain.catalog import Catalog, Rule, fold_catalog, rule_from_event
from domain.credit_bank import CreditBank, fold
from domain.rules import Decision, award_event, award_generation, award_id, evaluate
from domain.units import credit_points, exact_text, level_to_halves
from proto import events as ev

LEARNER = "123456789012"
OTHER_LEARNER = "210987654321"
CATALOG_RECORDED_AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
FIRST_LEARNER_EVENT_AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
FIRST_LEARNER_POSITION = 1000  # after every catalog event
ASSESSED_ON = dt.date(2026, 3, 1)

ADV_CNC_COMPONENTS = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
GUEST_REQUIRED = ("HOSP-FUND", "HOSP-CUST", "HOSP-CULT")
CULINARY_REQUIRED = ("CUL-HYGIENE", "CUL-BASIC", "CUL-KITCHEN", "CUL-INDIAN")

_MICRO = {m.code: m for m in MICRO_CREDENTIALS}
_PROVIDER = {CAPITAL_GOODS: "NSTI-CHENNAI", HOSPITALITY: "IHM-GOA", IT: "NIELIT-DELHI"}
_RPL_BODY = "THSC-RPL"
_assessment_numbers = itertools.count(1)


# --- the catalog ------------------------------------------------------------------------


def demo_catalog(*later: ev.Event, later_from_position: int = 5000) -> Catalog:
    """The demo catalog, recorded at positions 1, 2, 3, ...; then ``later`` events."""
    demo = [event for _, event in demo_catalog_events()]
    return fold_catalog(
        [
            *((event, position, CATALOG_RECORDED_AT) for position, event in enumerate(demo, 1)),
            *(
                (event, position, CATALOG_RECORDED_AT)
                for position, event in enumerate(later, later_from_position)
            ),
        ]
    )


def demo_rule(code: str) -> Rule:
    rule = demo_catalog().current_rule(code)
    if rule is None:
        raise LookupError(f"the demo catalog has no qualification {code}")
    return rule


def qualification_defined(
    code: str,
    *,
    min_credits: int,
    version: int = 1,
    level: str = "4",
    sector: str = CAPITAL_GOODS,
    **fields: Any,
) -> ev.QualificationDefined:
    """A qualification outside the demo catalog (a level-4 capital-goods one by default)."""
    return ev.QualificationDefined(
        code=code,
        version=version,
        title=f"Qualification {code}",
        sector=sector,
        level=level,
        min_credits=min_credits,
        **fields,
    )


def rule_of(definition: ev.QualificationDefined, position: int = 1) -> Rule:
    return rule_from_event(definition, position, CATALOG_RECORDED_AT)


def cnc_operator() -> ev.QualificationDefined:
    """A lower qualification: CNC fundamentals and programming (150 h, 5 credits)."""
    return qualification_defined("CNC-OPERATOR", required=["CNC-FUND", "CNC-PROG"], min_credits=5)


def cnc_master() -> ev.QualificationDefined:
    """A higher one that requires CNC-OPERATOR and also names CNC-FUND directly."""
    return qualification_defined(
        "CNC-MASTER", required=["CNC-OPERATOR", "CNC-FUND", "CNC-ADV"], min_credits=8
    )


# --- learner events -----------------------------------------------------------------------


def snapshot_of(code: str, **changes: Any) -> ev.CatalogSnapshot:
    """The snapshot the ledger records for ``code`` from the demo catalog."""
    micro = _MICRO[code]
    snapshot = ev.CatalogSnapshot(
        version=micro.version,
        level=micro.level,
        notional_hours=micro.notional_hours,
        sector=micro.sector,
        validity_years=micro.validity_years,
    )
    return msgspec.structs.replace(snapshot, **changes)


def passed(
    code: str,
    *,
    assessed_on: dt.date = ASSESSED_ON,
    mode: ev.AssessmentMode = ev.AssessmentMode.TRAINING,
    learner_id: str = LEARNER,
    institution_id: str | None = None,
    assessment_id: str | None = None,
    snapshot: ev.CatalogSnapshot | None = None,
) -> ev.AssessmentPassed:
    """A pass as the ledger records it: with its catalog snapshot."""
    return ev.AssessmentPassed(
        assessment_id=assessment_id or f"ASMT-{code}-{next(_assessment_numbers)}",
        learner_id=learner_id,
        institution_id=institution_id or _PROVIDER[_MICRO[code].sector],
        micro_credential_code=code,
        mode=mode,
        assessed_on=assessed_on,
        catalog_snapshot=snapshot or snapshot_of(code),
    )


def rpl_passed(code: str, **fields: Any) -> ev.AssessmentPassed:
    """A recognition-of-prior-learning pass, from the sector's RPL assessment body."""
    return passed(code, mode=ev.AssessmentMode.RPL, institution_id=_RPL_BODY, **fields)


def passed_without_snapshot(code: str) -> ev.AssessmentPassed:
    """A pass as an institution sends it, before the ledger adds the snapshot."""
    return msgspec.structs.replace(passed(code), catalog_snapshot=None)


def assessment_revoked(p: ev.AssessmentPassed) -> ev.AssessmentRevoked:
    return ev.AssessmentRevoked(
        assessment_id=p.assessment_id,
        learner_id=p.learner_id,
        institution_id=p.institution_id,
        reason="malpractice found on review",
    )


def credential_issued(p: ev.AssessmentPassed, credential_id: str) -> ev.CredentialIssued:
    return ev.CredentialIssued(
        credential_id=credential_id,
        assessment_id=p.assessment_id,
        learner_id=p.learner_id,
        institution_id=p.institution_id,
        micro_credential_code=p.micro_credential_code,
        issued_on=p.assessed_on,
    )


def credential_revoked(p: ev.AssessmentPassed, credential_id: str) -> ev.CredentialRevoked:
    return ev.CredentialRevoked(
        credential_id=credential_id,
        learner_id=p.learner_id,
        institution_id=p.institution_id,
        reason="issued with a misspelt name",
    )


def credits_redeemed(*passes: ev.AssessmentPassed) -> ev.CreditsRedeemed:
    return ev.CreditsRedeemed(
        redemption_id=f"RDM-{next(_assessment_numbers)}",
        learner_id=passes[0].learner_id,
        institution_id="ATI-MUMBAI",
        passes=[
            ev.PassRef(institution_id=p.institution_id, assessment_id=p.assessment_id)
            for p in passes
        ],
        programme="B.Voc. Manufacturing",
    )


def qualification_revoked(
    award: ev.QualificationAwarded, reason_code: str = "rule_no_longer_holds", note: str = ""
) -> ev.QualificationRevoked:
    return ev.QualificationRevoked(
        award_id=award.award_id,
        learner_id=award.learner_id,
        qualification_code=award.qualification_code,
        reason=note or "a component pass was revoked",
        reason_code=ev.RevocationReasonCode(reason_code),
        note=note,
    )


def award_block_lifted(
    qualification_code: str, learner_id: str = LEARNER, note: str = "cleared on appeal"
) -> ev.AwardBlockLifted:
    return ev.AwardBlockLifted(
        learner_id=learner_id, qualification_code=qualification_code, note=note
    )


# --- one learner's log ------------------------------------------------------------------


class LearnerLog:
    """One learner's events at successive log positions, an hour apart unless told."""

    def __init__(self, learner_id: str = LEARNER) -> None:
        self.learner_id = learner_id
        self.entries: list[tuple[ev.Event, int, dt.datetime]] = []

    @property
    def now(self) -> dt.datetime:
        """The event time of the latest event (the trigger of an evaluation)."""
        return self.entries[-1][2] if self.entries else FIRST_LEARNER_EVENT_AT

    def record(self, *events: ev.Event, at: dt.datetime | None = None) -> LearnerLog:
        for event in events:
            position = FIRST_LEARNER_POSITION + len(self.entries)
            when = at or FIRST_LEARNER_EVENT_AT + dt.timedelta(hours=len(self.entries))
            self.entries.append((event, position, when))
        return self

    def bank(self) -> CreditBank:
        return fold(self.learner_id, self.entries)

    def evaluate(self, rule: Rule, at: dt.datetime | None = None) -> Decision:
        return evaluate(rule, self.bank(), at or self.now)

    def award(self, rule: Rule) -> ev.QualificationAwarded:
        """What the issuer would append now that ``rule`` is satisfied; recorded here too."""
        bank = self.bank()
        decision = evaluate(rule, bank, self.now)
        event = award_event(decision, award_generation(bank, rule.code), bank.position)
        self.record(event)
        return event


def log_with(*events: ev.Event) -> LearnerLog:
    return LearnerLog().record(*events)


def passes_of(codes: Iterable[str], **fields: Any) -> list[ev.AssessmentPassed]:
    return [passed(code, **fields) for code in codes]


def recorded_award(
    qualification_code: str, components: Iterable[ev.AssessmentPassed], generation: int = 0
) -> ev.QualificationAwarded:
    """An award as some earlier rule version justified it, built straight from its passes."""
    parts = list(components)
    snapshots = [p.catalog_snapshot or snapshot_of(p.micro_credential_code) for p in parts]
    hours = sum(s.notional_hours for s in snapshots)
    points = sum(
        (credit_points(s.notional_hours, level_to_halves(s.level)) for s in snapshots),
        Fraction(0),
    )
    return ev.QualificationAwarded(
        award_id=award_id(LEARNER, qualification_code, 1, generation),
        learner_id=LEARNER,
        qualification_code=qualification_code,
        qualification_version=1,
        award_generation=generation,
        components=[
            ev.AwardComponent(
                micro_credential_code=p.micro_credential_code,
                pass_ref=ev.PassRef(institution_id=p.institution_id, assessment_id=p.assessment_id),
                notional_hours=s.notional_hours,
                level=s.level,
                mode=p.mode,
            )
            for p, s in zip(parts, snapshots, strict=True)
        ],
        counted_hours=hours,
        credit_points=exact_text(points),
        decided_at_position=FIRST_LEARNER_POSITION,
    )
