"""The credit-bank fold: one learner's events in, what the learner holds out.

``evolve`` is pure and total over the v1 events: learner events change the bank, catalog
and institution events leave it as it is, and anything the ledger would never have
accepted (another learner's event, a pass named twice, a revocation of something unknown)
raises ``ValueError`` rather than being papered over, since it means the log or the
caller is wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from types import MappingProxyType

from msgspec.structs import replace

from domain.bank_summary import BankSummary, summarize
from domain.holdings import AwardBlock, CreditBank, HeldAward, Pass, PassKey, empty_bank
from domain.shelf_life import require_aware, utc_day
from domain.units import level_to_halves
from proto import events as ev

CATALOG_EVENTS = ev.CATALOG_EVENTS  # they never change a learner's holdings

LearnerEvent = (
    ev.AssessmentPassed
    | ev.CredentialIssued
    | ev.AssessmentRevoked
    | ev.CredentialRevoked
    | ev.CreditsRedeemed
    | ev.QualificationAwarded
    | ev.QualificationRevoked
    | ev.AwardBlockLifted
    | ev.ConsentGranted
    | ev.ConsentWithdrawn
)


def evolve(
    bank: CreditBank, event: ev.Event, position: int, recorded_at: dt.datetime
) -> CreditBank:
    """The bank after one event recorded at ``position`` / ``recorded_at``."""
    if isinstance(event, CATALOG_EVENTS):
        return bank
    if not isinstance(event, LearnerEvent):
        raise TypeError(f"the credit bank cannot fold {type(event).__name__}")
    if event.learner_id != bank.learner_id:
        raise ValueError(
            f"{type(event).__name__} of learner {event.learner_id} "
            f"offered to the bank of {bank.learner_id}"
        )
    if position <= bank.position:
        raise ValueError(f"position {position} is not after the bank's {bank.position}")
    require_aware(recorded_at, "recorded_at")
    changed = _apply(bank, event, position, recorded_at)
    return replace(changed, position=position, recorded_at=recorded_at)


def fold(learner_id: str, events: Iterable[tuple[ev.Event, int, dt.datetime]]) -> CreditBank:
    """The bank from (event, position, recorded_at) triples in log order."""
    bank = empty_bank(learner_id)
    for event, position, recorded_at in events:
        bank = evolve(bank, event, position, recorded_at)
    return bank


def _apply(
    bank: CreditBank, event: LearnerEvent, position: int, recorded_at: dt.datetime
) -> CreditBank:
    match event:
        case ev.AssessmentPassed():
            return _with_pass(bank, _new_pass(bank, event, position, recorded_at))
        case ev.CredentialIssued():
            return _credential_issued(bank, event)
        case ev.CredentialRevoked():
            return _credential_revoked(bank, event)
        case ev.AssessmentRevoked():
            return _assessment_revoked(bank, event)
        case ev.CreditsRedeemed():
            return _redeemed(bank, event, utc_day(recorded_at), position)
        case ev.QualificationAwarded():
            return _awarded(bank, event, position, recorded_at)
        case ev.QualificationRevoked():
            return _award_revoked(bank, event, position)
        case ev.AwardBlockLifted():
            return _block_lifted(bank, event)
        case ev.ConsentGranted() | ev.ConsentWithdrawn():
            return bank  # who may read the bank, not what it holds


def _new_pass(
    bank: CreditBank, event: ev.AssessmentPassed, position: int, recorded_at: dt.datetime
) -> Pass:
    snapshot = event.catalog_snapshot
    if snapshot is None:
        # The ledger records the snapshot; without it the pass's worth would have to come
        # from today's catalog, which may have changed since.
        raise ValueError(f"assessment {event.assessment_id} was recorded without a snapshot")
    key = PassKey(event.institution_id, event.assessment_id)
    if key in bank.passes:
        raise ValueError(f"pass {key} is recorded twice")
    return Pass(
        key=key,
        learner_id=event.learner_id,
        code=event.micro_credential_code,
        mode=ev.AssessmentMode(event.mode),  # an enum even if the event was built unvalidated
        assessed_on=event.assessed_on,
        level_halves=level_to_halves(snapshot.level),
        notional_hours=snapshot.notional_hours,
        sector=snapshot.sector,
        validity_years=snapshot.validity_years,
        catalog_version=snapshot.version,
        position=position,
        recorded_at=recorded_at,
    )


def _existing(bank: CreditBank, key: PassKey) -> Pass:
    found = bank.passes.get(key)
    if found is None:
        raise ValueError(f"learner {bank.learner_id} has no pass {key}")
    return found


def _with_pass(bank: CreditBank, changed: Pass) -> CreditBank:
    return replace(bank, passes=MappingProxyType({**bank.passes, changed.key: changed}))


def _with_award(bank: CreditBank, changed: HeldAward) -> CreditBank:
    return replace(bank, awards=MappingProxyType({**bank.awards, changed.award_id: changed}))


def _credential_issued(bank: CreditBank, event: ev.CredentialIssued) -> CreditBank:
    found = _existing(bank, PassKey(event.institution_id, event.assessment_id))
    if found.code != event.micro_credential_code:
        raise ValueError(f"credential {event.credential_id} names the wrong code for {found.key}")
    issued = (*found.credential_ids, event.credential_id)
    return _with_pass(bank, replace(found, credential_ids=issued))


def _credential_revoked(bank: CreditBank, event: ev.CredentialRevoked) -> CreditBank:
    # Credential ids are unique per institution, and an institution certifies its own passes.
    matches = [
        p
        for p in bank.passes.values()
        if p.key.institution_id == event.institution_id and event.credential_id in p.credential_ids
    ]
    if len(matches) != 1:
        raise ValueError(
            f"credential {event.institution_id}/{event.credential_id} "
            f"names {len(matches)} passes of learner {bank.learner_id}"
        )
    found = matches[0]
    if event.credential_id in found.revoked_credential_ids:
        raise ValueError(f"credential {event.credential_id} is already revoked")
    revoked = (*found.revoked_credential_ids, event.credential_id)
    return _with_pass(bank, replace(found, revoked_credential_ids=revoked))


def _assessment_revoked(bank: CreditBank, event: ev.AssessmentRevoked) -> CreditBank:
    found = _existing(bank, PassKey(event.institution_id, event.assessment_id))
    if found.revoked:
        raise ValueError(f"pass {found.key} is already revoked")
    return _with_pass(bank, replace(found, revoked=True))


def _redeemed(
    bank: CreditBank, event: ev.CreditsRedeemed, day: dt.date, position: int
) -> CreditBank:
    for ref in event.passes:
        found = _existing(bank, PassKey(ref.institution_id, ref.assessment_id))
        # The ledger redeems only passes held on the day it records the redemption.
        if not found.held_on(day):
            raise ValueError(f"pass {found.key} is not held on {day} and cannot be redeemed")
        bank = _with_pass(bank, replace(found, redeemed=True, redeemed_position=position))
    return bank


def _awarded(
    bank: CreditBank, event: ev.QualificationAwarded, position: int, recorded_at: dt.datetime
) -> CreditBank:
    if event.award_id in bank.awards:
        raise ValueError(f"award {event.award_id} is recorded twice")
    keys = tuple(
        PassKey(c.pass_ref.institution_id, c.pass_ref.assessment_id) for c in event.components
    )
    for key in keys:
        _existing(bank, key)
    award = HeldAward(
        award_id=event.award_id,
        qualification_code=event.qualification_code,
        qualification_version=event.qualification_version,
        generation=event.award_generation,
        components=keys,
        component_codes=tuple(c.micro_credential_code for c in event.components),
        required_qualifications=tuple(event.required_qualifications),
        counted_hours=event.counted_hours,
        position=position,
        recorded_at=recorded_at,
    )
    return _with_award(bank, award)


def _award_revoked(bank: CreditBank, event: ev.QualificationRevoked, position: int) -> CreditBank:
    award = bank.awards.get(event.award_id)
    if award is None or award.qualification_code != event.qualification_code:
        raise ValueError(
            f"learner {bank.learner_id} holds no award {event.award_id} "
            f"of {event.qualification_code}"
        )
    if award.revoked:
        raise ValueError(f"award {event.award_id} is already revoked")
    bank = _with_award(bank, replace(award, revoked=True))
    if event.reason_code in ev.ADMIN_REVOCATION_REASONS:
        block = AwardBlock(
            qualification_code=event.qualification_code,
            award_id=event.award_id,
            reason_code=str(event.reason_code),
            note=event.note,
            position=position,
        )
        blocks = {**bank.award_blocks, event.qualification_code: block}
        bank = replace(bank, award_blocks=MappingProxyType(blocks))
    return bank


def _block_lifted(bank: CreditBank, event: ev.AwardBlockLifted) -> CreditBank:
    if event.qualification_code not in bank.award_blocks:
        raise ValueError(
            f"learner {bank.learner_id} has no block on {event.qualification_code} to lift"
        )
    blocks = {k: v for k, v in bank.award_blocks.items() if k != event.qualification_code}
    return replace(bank, award_blocks=MappingProxyType(blocks))


__all__ = [
    "AwardBlock",
    "BankSummary",
    "CreditBank",
    "HeldAward",
    "Pass",
    "PassKey",
    "empty_bank",
    "evolve",
    "fold",
    "summarize",
]
