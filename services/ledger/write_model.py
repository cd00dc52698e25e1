"""The ledger's write model: what it must know to refuse a bad event, and the decisions.

``decide`` is pure: it checks one candidate against a ``WriteState`` (loaded from the
database for just the keys a commit group touches), updates that state so the next
candidate in the same group sees it, and records the row changes to persist.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from domain.accreditation import AccreditationError, Scope, covers, evolve_scope
from domain.award_check import award_objection, reevaluate_award
from domain.catalog import Catalog, evolve_catalog
from domain.credit_bank import evolve
from domain.holdings import CreditBank, is_held
from domain.shelf_life import shelf_life_end, utc_day
from domain.units import level_to_halves
from proto import events as ev
from proto.envelope import Actor, Role
from services.ledger.errors import Refused, conflict, forbidden, unprocessable

# An assessment date is "in the future" only if it is in the future in every time zone.
LATEST_UTC_OFFSET = dt.timedelta(hours=14)

ADMIN_EVENTS: tuple[type[ev.Event], ...] = (*ev.CATALOG_EVENTS, ev.AwardBlockLifted)
ISSUER_EVENTS = (ev.QualificationAwarded,)
# Who may revoke an award depends on the reason code: checked in ``_qualification_revoked``.
REVOCATION_EVENTS = (ev.QualificationRevoked,)
LEARNER_STREAM_PREFIX = "learner-"
# Events the core judges on the learner's whole bank and every version of one rule.
JUDGED_EVENTS = (ev.QualificationAwarded, ev.QualificationRevoked, ev.AwardBlockLifted)


def judged_keys(candidates: list[Candidate]) -> tuple[set[str], set[str]]:
    """The learners whose banks, and qualifications whose rules, ``candidates`` need."""
    learners: set[str] = set()
    codes: set[str] = set()
    for candidate in candidates:
        event = candidate.event
        if isinstance(event, JUDGED_EVENTS):
            learners.add(event.learner_id)
            codes.add(event.qualification_code)
    return learners, codes


INSTITUTION_EVENTS = (
    ev.AssessmentPassed,
    ev.CredentialIssued,
    ev.AssessmentRevoked,
    ev.CredentialRevoked,
    ev.CreditsRedeemed,
)


class Candidate(msgspec.Struct, frozen=True):
    """One event a client asked to append, with who asked."""

    event_id: str
    event: ev.Event
    stream: str
    expected_version: int | None
    actor: Actor
    request_id: str
    correlation_id: str | None = None
    causation_id: str | None = None


class Institution(msgspec.Struct, frozen=True):
    institution_id: str
    name: str
    kind: str
    accredited_sectors: list[str]
    max_level_halves: int
    accredited: bool
    # Every accreditation period, folded from the institution's events (domain.accreditation).
    scope: Scope = ()


class MicroCredential(msgspec.Struct, frozen=True):
    code: str
    version: int
    title: str
    sector: str
    level_halves: int
    notional_hours: int
    validity_years: int
    definition: dict[str, Any]


class Qualification(msgspec.Struct, frozen=True):
    code: str
    version: int
    definition: dict[str, Any]


class Assessment(msgspec.Struct, frozen=True):
    institution_id: str
    assessment_id: str
    learner_id: str
    code: str
    assessed_on: dt.date
    validity_years: int
    position: int
    revoked: bool = False
    redeemed: bool = False


class Credential(msgspec.Struct, frozen=True):
    institution_id: str
    credential_id: str
    assessment_id: str
    learner_id: str
    revoked: bool = False


class Award(msgspec.Struct, frozen=True):
    award_id: str
    learner_id: str
    qualification_code: str
    revoked: bool = False


class Consent(msgspec.Struct, frozen=True):
    grant_id: str
    learner_id: str
    grantee_institution_id: str
    valid_until: dt.date | None
    position: int
    withdrawn: bool = False


@dataclass
class Changes:
    """Rows to write, keyed so that the last change to a row wins."""

    institutions: dict[str, Institution] = field(default_factory=dict)
    micro_credentials: dict[str, MicroCredential] = field(default_factory=dict)
    qualifications: dict[str, Qualification] = field(default_factory=dict)
    new_assessments: dict[tuple[str, str], Assessment] = field(default_factory=dict)
    updated_assessments: dict[tuple[str, str], Assessment] = field(default_factory=dict)
    new_credentials: dict[tuple[str, str], Credential] = field(default_factory=dict)
    updated_credentials: dict[tuple[str, str], Credential] = field(default_factory=dict)
    redemptions: set[tuple[str, str]] = field(default_factory=set)
    new_awards: dict[str, Award] = field(default_factory=dict)
    updated_awards: dict[str, Award] = field(default_factory=dict)
    new_consents: dict[str, Consent] = field(default_factory=dict)
    withdrawn_consents: set[str] = field(default_factory=set)


@dataclass
class WriteState:
    """Known rows for the keys a group touches; ``None`` means known to be absent."""

    institutions: dict[str, Institution | None] = field(default_factory=dict)
    micro_credentials: dict[str, MicroCredential | None] = field(default_factory=dict)
    qualifications: dict[str, Qualification | None] = field(default_factory=dict)
    assessments: dict[tuple[str, str], Assessment | None] = field(default_factory=dict)
    credentials: dict[tuple[str, str], Credential | None] = field(default_factory=dict)
    redemptions: dict[tuple[str, str], bool] = field(default_factory=dict)
    awards: dict[str, Award | None] = field(default_factory=dict)
    consents: dict[str, Consent | None] = field(default_factory=dict)
    stream_versions: dict[str, int] = field(default_factory=dict)
    # For awards and revocations: each such learner's bank at the head (folded from their
    # whole stream, then through what this group accepted), and every version of the rules
    # those events name. Both are immutable values, so a fork shares them.
    banks: dict[str, CreditBank] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=Catalog)
    catalog_codes: set[str] = field(default_factory=set)
    changes: Changes = field(default_factory=Changes)

    def fork(self) -> WriteState:
        """A private copy for an atomic batch: discarded if any item is refused.

        Copies of the maps suffice: rows, banks and the catalog are immutable values that a
        decision replaces, never changes in place (a deep copy cost ~15 µs an event)."""
        return WriteState(**{name: _copied(value) for name, value in vars(self).items()})


def _copied(value: Any) -> Any:
    if isinstance(value, dict | set):
        return value.copy()
    if isinstance(value, Changes):
        return Changes(**{name: _copied(v) for name, v in vars(value).items()})
    return value


class Decision(msgspec.Struct, frozen=True):
    """An accepted candidate: the data to record (possibly enriched) and its version."""

    data: ev.Event
    stream_version: int


def authorize(candidate: Candidate) -> None:
    """Role checks that need no state (docs/architecture.md §6); raises ``Refused``."""
    event, actor = candidate.event, candidate.actor
    name = type(event).__name__
    if isinstance(event, ADMIN_EVENTS):
        if actor.role is not Role.ADMIN:
            raise forbidden(f"only the admin role may record {name}", "role_not_allowed")
    elif isinstance(event, ISSUER_EVENTS):
        if actor.role is not Role.ISSUER:
            raise forbidden(f"only the issuer role may record {name}", "role_not_allowed")
    elif isinstance(event, REVOCATION_EVENTS):
        _authorize_revocation(event, actor)
    elif isinstance(event, ev.CONSENT_EVENTS):
        if actor.role is not Role.LEARNER:
            raise forbidden(f"only the learner may record {name}", "role_not_allowed")
        if getattr(event, "learner_id", None) != actor.learner_id:
            raise forbidden(
                f"this passbook link is learner {actor.learner_id}'s; it may not record"
                f" consent for learner {getattr(event, 'learner_id', '?')}",
                "not_own_learner",
            )
    elif isinstance(event, INSTITUTION_EVENTS):
        if actor.role is not Role.INSTITUTION:
            raise forbidden(f"only an institution may record {name}", "role_not_allowed")
        if getattr(event, "institution_id", None) != actor.institution_id:
            raise forbidden(
                f"this key belongs to institution {actor.institution_id}; "
                f"it may not write events in the name of {getattr(event, 'institution_id', '?')}",
                "not_own_institution",
            )
    else:
        raise forbidden(f"{name} cannot be appended", "role_not_allowed")


def _authorize_revocation(event: ev.QualificationRevoked, actor: Actor) -> None:
    code = event.reason_code
    if code is None:
        raise unprocessable(
            "a revocation needs a reason_code: rule_no_longer_holds, fraud or issued_in_error",
            "reason_code_required",
        )
    if code in ev.ADMIN_REVOCATION_REASONS:
        if actor.role is not Role.ADMIN:
            raise forbidden(
                f"only the admin role may revoke an award as {code}", "role_not_allowed"
            )
        if not event.note.strip():
            raise unprocessable(f"a revocation as {code} needs a note", "note_required")
    elif actor.role is not Role.ISSUER:
        raise forbidden(f"only the issuer role may revoke an award as {code}", "role_not_allowed")


def check_learner_id(event: ev.Event, pattern: re.Pattern[str]) -> None:
    learner = getattr(event, "learner_id", None)
    if learner is not None and not pattern.fullmatch(learner):
        raise unprocessable(
            f"learner_id {learner!r} does not match the configured pattern {pattern.pattern}",
            "bad_learner_id",
        )


def _check_version(state: WriteState, candidate: Candidate) -> int:
    current = state.stream_versions.get(candidate.stream, 0)
    expected = candidate.expected_version
    if expected is not None and expected != current:
        raise conflict(
            f"stream {candidate.stream} is at version {current}, expected {expected}",
            "wrong_expected_version",
        )
    return current + 1


def _held(assessment: Assessment, day: dt.date) -> bool:
    """Held exactly as the credit bank judges a pass (``domain.holdings.is_held``)."""
    return is_held(
        day,
        revoked=assessment.revoked,
        redeemed=assessment.redeemed,
        expires_on=shelf_life_end(assessment.assessed_on, assessment.validity_years),
    )


@functools.lru_cache(maxsize=64)  # every event of a group shares its recorded_at
def _latest_plausible_date(recorded_at: dt.datetime) -> dt.date:
    return (recorded_at.astimezone(dt.UTC) + LATEST_UTC_OFFSET).date()


def decide(
    state: WriteState, candidate: Candidate, recorded_at: dt.datetime, position: int
) -> Decision:
    """Accept (updating ``state``) or raise ``Refused``; never partially updates on refusal."""
    if isinstance(candidate.event, ev.QualificationAwarded) and candidate.expected_version is None:
        # The award is judged on the stream up to this version: without it, no basis.
        raise unprocessable(
            "an award must carry the expected_version of the learner's stream it was decided on",
            "expected_version_required",
        )
    version = _check_version(state, candidate)
    decider = _DECIDERS[_base(candidate.event)]
    data: ev.Event = decider(state, candidate.event, recorded_at, position)
    state.stream_versions[candidate.stream] = version
    learner = candidate.stream.removeprefix(LEARNER_STREAM_PREFIX)
    bank = state.banks.get(learner) if candidate.stream.startswith(LEARNER_STREAM_PREFIX) else None
    if bank is not None:
        # A later award or revocation in this group must be judged on this event too.
        state.banks[learner] = evolve(bank, data, position, recorded_at)
    return Decision(data=data, stream_version=version)


def _base(event: ev.Event) -> type[ev.Event]:
    for klass in type(event).__mro__:
        if klass in _DECIDERS:
            return klass
    raise TypeError(f"no decider for {type(event).__name__}")


def _institution_registered(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    level_halves = level_to_halves(event.max_level)
    row = Institution(
        institution_id=event.institution_id,
        name=event.name,
        kind=str(event.kind),
        accredited_sectors=sorted(set(event.accredited_sectors)),
        max_level_halves=level_halves,
        accredited=event.accredited,
        scope=evolve_scope((), event),
    )
    state.institutions[row.institution_id] = row
    state.changes.institutions[row.institution_id] = row
    return _plain(event, ev.InstitutionRegistered)


def _accreditation_changed(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    institution = state.institutions.get(event.institution_id)
    if institution is None:
        raise unprocessable(
            f"institution {event.institution_id} is not registered", "institution_unknown"
        )
    try:
        scope = evolve_scope(institution.scope, event)
    except AccreditationError as exc:
        raise unprocessable(str(exc), "accreditation_conflict") from exc
    row = msgspec.structs.replace(institution, scope=scope)
    state.institutions[row.institution_id] = row
    state.changes.institutions[row.institution_id] = row
    return _plain(event, _base(event))


def _micro_credential_defined(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    current = state.micro_credentials.get(event.code)
    next_version = 1 if current is None else current.version + 1
    if event.version != next_version:
        raise conflict(
            f"micro-credential {event.code} is at version {0 if current is None else current.version}; "
            f"the next definition must be version {next_version}",
            "wrong_catalog_version",
        )
    plain = _plain(event, ev.MicroCredentialDefined)
    row = MicroCredential(
        code=event.code,
        version=event.version,
        title=event.title,
        sector=event.sector,
        level_halves=level_to_halves(event.level),
        notional_hours=event.notional_hours,
        validity_years=event.validity_years,
        definition=msgspec.to_builtins(plain),
    )
    state.micro_credentials[row.code] = row
    state.changes.micro_credentials[row.code] = row
    return plain


def _qualification_defined(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    current = state.qualifications.get(event.code)
    next_version = 1 if current is None else current.version + 1
    if event.version != next_version:
        raise conflict(
            f"qualification {event.code} is at version {0 if current is None else current.version}; "
            f"the next definition must be version {next_version}",
            "wrong_catalog_version",
        )
    named = list(event.required) + [code for group in event.electives for code in group.codes]
    for code in named:
        if code == event.code:
            raise unprocessable(f"qualification {code} cannot require itself", "rule_cycle")
        if state.micro_credentials.get(code) is None and state.qualifications.get(code) is None:
            raise unprocessable(
                f"the rule names {code}, which is neither a micro-credential nor a qualification",
                "unknown_component",
            )
    for group in event.electives:
        if group.min_count > len(set(group.codes)):
            raise unprocessable(
                f"an elective group asks for {group.min_count} of {len(set(group.codes))} codes",
                "impossible_elective_group",
            )
    level_to_halves(event.level)
    plain = _plain(event, ev.QualificationDefined)
    row = Qualification(
        code=event.code, version=event.version, definition=msgspec.to_builtins(plain)
    )
    if event.code in state.catalog_codes:  # an award in this group may be judged by it
        state.catalog = evolve_catalog(state.catalog, plain, position, recorded_at)
    state.qualifications[row.code] = row
    state.changes.qualifications[row.code] = row
    return plain


def _accredited_institution(state: WriteState, institution_id: str) -> Institution:
    institution = state.institutions.get(institution_id)
    if institution is None:
        raise forbidden(f"institution {institution_id} is not registered", "institution_unknown")
    if institution.kind == ev.InstitutionKind.EMPLOYER:
        raise forbidden(
            f"{institution_id} is an employer: it may read what learners grant it, never"
            " record a pass, a credential or a redemption",
            "employer_cannot_record",
        )
    if not institution.accredited:
        raise forbidden(f"institution {institution_id} is not accredited", "not_accredited")
    return institution


def _assessment_passed(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    if event.catalog_snapshot is not None:
        raise unprocessable(
            "catalog_snapshot is recorded by the ledger and must not be sent", "ledger_field"
        )
    institution = _accredited_institution(state, event.institution_id)
    micro = state.micro_credentials.get(event.micro_credential_code)
    if micro is None:
        raise unprocessable(
            f"unknown micro-credential code {event.micro_credential_code}",
            "unknown_micro_credential",
        )
    if event.assessed_on > _latest_plausible_date(recorded_at):
        raise unprocessable(f"assessed_on {event.assessed_on} is in the future", "future_date")
    if not covers(institution.scope, micro.sector, micro.level_halves, event.assessed_on):
        raise forbidden(
            _outside_scope(institution, micro, event.assessed_on), "outside_accreditation"
        )
    key = (event.institution_id, event.assessment_id)
    if state.assessments.get(key) is not None:
        raise conflict(
            f"institution {key[0]} already recorded assessment {key[1]}", "duplicate_assessment"
        )
    row = Assessment(
        institution_id=event.institution_id,
        assessment_id=event.assessment_id,
        learner_id=event.learner_id,
        code=micro.code,
        assessed_on=event.assessed_on,
        validity_years=micro.validity_years,
        position=position,
    )
    state.assessments[key] = row
    state.changes.new_assessments[key] = row
    snapshot = ev.CatalogSnapshot(
        version=micro.version,
        level=str(micro.definition["level"]),
        notional_hours=micro.notional_hours,
        sector=micro.sector,
        validity_years=micro.validity_years,
    )
    if type(event) is ev.AssessmentPassed:
        return msgspec.structs.replace(event, catalog_snapshot=snapshot)
    # The strict HTTP twin becomes the contract type in the same step.
    return ev.AssessmentPassed(**{**msgspec.structs.asdict(event), "catalog_snapshot": snapshot})


def _outside_scope(institution: Institution, micro: MicroCredential, day: dt.date) -> str:
    in_force = [p for p in institution.scope if p.sector == micro.sector and p.in_force_on(day)]
    where = f"institution {institution.institution_id} on {day}"
    if not in_force:
        return f"{where} was not accredited for sector {micro.sector}"
    return (
        f"{where} was accredited for {micro.sector} up to NSQF level "
        f"{in_force[0].max_level_halves / 2:g}; {micro.code} is level {micro.level_halves / 2:g}"
    )


def _existing_assessment(
    state: WriteState, institution_id: str, assessment_id: str, learner_id: str
) -> Assessment:
    assessment = state.assessments.get((institution_id, assessment_id))
    if assessment is None:
        raise unprocessable(
            f"institution {institution_id} has recorded no assessment {assessment_id}",
            "unknown_assessment",
        )
    if assessment.learner_id != learner_id:
        raise unprocessable(
            f"assessment {assessment_id} belongs to another learner", "assessment_of_other_learner"
        )
    return assessment


def _credential_issued(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    _accredited_institution(state, event.institution_id)
    assessment = _existing_assessment(
        state, event.institution_id, event.assessment_id, event.learner_id
    )
    if assessment.revoked:
        raise unprocessable(f"assessment {event.assessment_id} is revoked", "assessment_revoked")
    if assessment.code != event.micro_credential_code:
        raise unprocessable(
            f"assessment {event.assessment_id} is for {assessment.code}, "
            f"not {event.micro_credential_code}",
            "wrong_micro_credential",
        )
    if event.issued_on > _latest_plausible_date(recorded_at):
        raise unprocessable(f"issued_on {event.issued_on} is in the future", "future_date")
    key = (event.institution_id, event.credential_id)
    if state.credentials.get(key) is not None:
        raise conflict(
            f"institution {key[0]} already issued credential {key[1]}", "duplicate_credential"
        )
    row = Credential(
        institution_id=event.institution_id,
        credential_id=event.credential_id,
        assessment_id=event.assessment_id,
        learner_id=event.learner_id,
    )
    state.credentials[key] = row
    state.changes.new_credentials[key] = row
    return _plain(event, ev.CredentialIssued)


def _assessment_revoked(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    assessment = _existing_assessment(
        state, event.institution_id, event.assessment_id, event.learner_id
    )
    if assessment.revoked:
        raise conflict(f"assessment {event.assessment_id} is already revoked", "already_revoked")
    revoked = msgspec.structs.replace(assessment, revoked=True)
    _store_assessment(state, revoked)
    return _plain(event, ev.AssessmentRevoked)


def _store_assessment(state: WriteState, row: Assessment) -> None:
    key = (row.institution_id, row.assessment_id)
    state.assessments[key] = row
    if key in state.changes.new_assessments:
        state.changes.new_assessments[key] = row
    else:
        state.changes.updated_assessments[key] = row


def _credential_revoked(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    key = (event.institution_id, event.credential_id)
    credential = state.credentials.get(key)
    if credential is None:
        raise unprocessable(
            f"institution {key[0]} has issued no credential {key[1]}", "unknown_credential"
        )
    if credential.learner_id != event.learner_id:
        raise unprocessable(
            f"credential {key[1]} belongs to another learner", "credential_of_other_learner"
        )
    if credential.revoked:
        raise conflict(f"credential {key[1]} is already revoked", "already_revoked")
    revoked = msgspec.structs.replace(credential, revoked=True)
    state.credentials[key] = revoked
    if key in state.changes.new_credentials:
        state.changes.new_credentials[key] = revoked
    else:
        state.changes.updated_credentials[key] = revoked
    return _plain(event, ev.CredentialRevoked)


def _credits_redeemed(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    _accredited_institution(state, event.institution_id)
    key = (event.institution_id, event.redemption_id)
    if state.redemptions.get(key):
        raise conflict(
            f"institution {key[0]} already recorded redemption {key[1]}", "duplicate_redemption"
        )
    today = utc_day(recorded_at)  # the day the credit bank judges the redemption on
    refs = [(p.institution_id, p.assessment_id) for p in event.passes]
    if len(set(refs)) != len(refs):
        raise unprocessable("a pass is named twice in one redemption", "duplicate_pass")
    held: list[Assessment] = []
    for institution_id, assessment_id in refs:
        assessment = state.assessments.get((institution_id, assessment_id))
        if assessment is None or assessment.learner_id != event.learner_id:
            raise unprocessable(
                f"learner {event.learner_id} holds no pass {institution_id}/{assessment_id}",
                "pass_not_held",
            )
        if not _held(assessment, today):
            raise unprocessable(
                f"pass {institution_id}/{assessment_id} is revoked, redeemed or expired",
                "pass_not_held",
            )
        held.append(assessment)
    for assessment in held:
        _store_assessment(state, msgspec.structs.replace(assessment, redeemed=True))
    state.redemptions[key] = True
    state.changes.redemptions.add(key)
    return _plain(event, ev.CreditsRedeemed)


def _qualification_awarded(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    """Refuse any award the learner's history does not support, judged by the shared core
    exactly as the issuer decides it (docs/architecture.md §3: awards are facts the log
    guards)."""
    code = event.qualification_code
    rule = state.catalog.current_rule(code)
    if rule is None:
        raise unprocessable(f"unknown qualification {code}", "unknown_qualification")
    bank = _bank(state, event.learner_id)
    objection = award_objection(event, rule, bank)
    if objection is not None:
        refuse = conflict if objection.stale else unprocessable
        raise refuse(objection.detail, objection.code)
    if state.awards.get(event.award_id) is not None:
        raise conflict(f"award {event.award_id} already exists", "duplicate_award")
    row = Award(award_id=event.award_id, learner_id=event.learner_id, qualification_code=code)
    state.awards[row.award_id] = row
    state.changes.new_awards[row.award_id] = row
    return _plain(event, ev.QualificationAwarded)


def _bank(state: WriteState, learner_id: str) -> CreditBank:
    bank = state.banks.get(learner_id)
    if bank is None:
        raise RuntimeError(f"the write state holds no bank for learner {learner_id}")
    return bank


def _qualification_revoked(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    award = state.awards.get(event.award_id)
    if award is None or award.learner_id != event.learner_id:
        raise unprocessable(
            f"learner {event.learner_id} holds no award {event.award_id}", "unknown_award"
        )
    if award.qualification_code != event.qualification_code:
        raise unprocessable(
            f"award {event.award_id} is for {award.qualification_code}", "wrong_qualification"
        )
    if award.revoked:
        raise conflict(f"award {event.award_id} is already revoked", "already_revoked")
    if event.reason_code == ev.RevocationReasonCode.RULE_NO_LONGER_HOLDS:
        _check_no_longer_holds(state, event)
    revoked = msgspec.structs.replace(award, revoked=True)
    state.awards[award.award_id] = revoked
    if award.award_id in state.changes.new_awards:
        state.changes.new_awards[award.award_id] = revoked
    else:
        state.changes.updated_awards[award.award_id] = revoked
    return _plain(event, ev.QualificationRevoked)


def _check_no_longer_holds(state: WriteState, event: Any) -> None:
    bank = _bank(state, event.learner_id)
    held = bank.awards.get(event.award_id)
    if held is None:
        raise RuntimeError(f"award {event.award_id} is in the write model but not in the bank")
    versions = state.catalog.rules.get(held.qualification_code, ())
    if len(versions) < held.qualification_version:
        raise RuntimeError(
            f"the write state lacks {held.qualification_code} v{held.qualification_version}"
        )
    decision = reevaluate_award(versions[held.qualification_version - 1], bank, held)
    if decision.satisfied:
        raise unprocessable(
            f"award {event.award_id} still holds with what the learner holds "
            f"({held.qualification_code} v{held.qualification_version} re-evaluated as of "
            f"{decision.evaluated_on}); revoke it as fraud or issued_in_error (admin) instead",
            "award_still_holds",
        )


def _award_block_lifted(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    bank = _bank(state, event.learner_id)
    if event.qualification_code not in bank.award_blocks:
        raise unprocessable(
            f"learner {event.learner_id} has no block on {event.qualification_code} to lift",
            "no_award_block",
        )
    return _plain(event, ev.AwardBlockLifted)


def _consent_granted(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    if state.institutions.get(event.grantee_institution_id) is None:
        raise unprocessable(
            f"institution {event.grantee_institution_id} is not registered", "institution_unknown"
        )
    if event.valid_until is not None and event.valid_until < utc_day(recorded_at):
        raise unprocessable(
            f"valid_until {event.valid_until} has passed: a grant must end today or later",
            "grant_already_ended",
        )
    if event.grant_id in state.consents and state.consents[event.grant_id] is not None:
        raise conflict(f"grant {event.grant_id} was made already", "grant_id_conflict")
    consent = Consent(
        grant_id=event.grant_id,
        learner_id=event.learner_id,
        grantee_institution_id=event.grantee_institution_id,
        valid_until=event.valid_until,
        position=position,
    )
    state.consents[event.grant_id] = consent
    state.changes.new_consents[event.grant_id] = consent
    return _plain(event, ev.ConsentGranted)


def _consent_withdrawn(
    state: WriteState, event: Any, recorded_at: dt.datetime, position: int
) -> ev.Event:
    consent = state.consents.get(event.grant_id)
    if consent is None or consent.learner_id != event.learner_id:
        raise unprocessable(
            f"learner {event.learner_id} made no grant {event.grant_id}", "unknown_grant"
        )
    if consent.withdrawn:
        raise conflict(f"grant {event.grant_id} is already withdrawn", "already_withdrawn")
    withdrawn = msgspec.structs.replace(consent, withdrawn=True)
    state.consents[event.grant_id] = withdrawn
    if event.grant_id in state.changes.new_consents:
        state.changes.new_consents[event.grant_id] = withdrawn
    else:
        state.changes.withdrawn_consents.add(event.grant_id)
    return _plain(event, ev.ConsentWithdrawn)


def _plain(event: ev.Event, base: type[ev.Event]) -> ev.Event:
    """The base contract type (not the strict HTTP twin), so it encodes and compares alike."""
    if type(event) is base:
        return event
    return base(**msgspec.structs.asdict(event))


_DECIDERS: dict[type[ev.Event], Any] = {
    ev.InstitutionRegistered: _institution_registered,
    ev.AccreditationGranted: _accreditation_changed,
    ev.AccreditationExtended: _accreditation_changed,
    ev.AccreditationWithdrawn: _accreditation_changed,
    ev.MicroCredentialDefined: _micro_credential_defined,
    ev.QualificationDefined: _qualification_defined,
    ev.AssessmentPassed: _assessment_passed,
    ev.CredentialIssued: _credential_issued,
    ev.AssessmentRevoked: _assessment_revoked,
    ev.CredentialRevoked: _credential_revoked,
    ev.CreditsRedeemed: _credits_redeemed,
    ev.QualificationAwarded: _qualification_awarded,
    ev.QualificationRevoked: _qualification_revoked,
    ev.AwardBlockLifted: _award_block_lifted,
    ev.ConsentGranted: _consent_granted,
    ev.ConsentWithdrawn: _consent_withdrawn,
}


__all__ = [
    "Candidate",
    "Decision",
    "Refused",
    "WriteState",
    "authorize",
    "check_learner_id",
    "decide",
    "judged_keys",
]
