"""Loads the write model for the keys a commit group touches, and persists its changes.

Runs inside the append transaction, after the append lock is taken, so what it reads is
exactly what the log says up to the current head.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import msgspec

from domain.accreditation import Period, Scope
from domain.catalog import fold_catalog
from domain.credit_bank import fold
from proto import events as ev
from proto.events import LedgerEvent
from services.common.db import Conn
from services.ledger.write_model import (
    Assessment,
    Award,
    Candidate,
    Changes,
    Credential,
    Institution,
    MicroCredential,
    Qualification,
    WriteState,
    judged_keys,
)


class _Keys:
    def __init__(self) -> None:
        self.institutions: set[str] = set()
        self.codes: set[str] = set()
        self.assessments: set[tuple[str, str]] = set()
        self.credentials: set[tuple[str, str]] = set()
        self.redemptions: set[tuple[str, str]] = set()
        self.awards: set[str] = set()
        self.streams: set[str] = set()


# Events whose decision needs their institution's row (and its accreditation).
INSTITUTION_KEYED_EVENTS: tuple[type[ev.Event], ...] = (
    *ev.INSTITUTION_STREAM_EVENTS,
    ev.AssessmentPassed,
    ev.CredentialIssued,
)
_event_decoder = msgspec.json.Decoder(LedgerEvent)


def _collect(candidates: list[Candidate]) -> _Keys:
    keys = _Keys()
    for candidate in candidates:
        keys.streams.add(candidate.stream)
        event: Any = candidate.event
        if isinstance(event, INSTITUTION_KEYED_EVENTS):
            keys.institutions.add(cast(Any, event).institution_id)

        if isinstance(event, ev.CreditsRedeemed):
            keys.institutions.add(event.institution_id)
            keys.redemptions.add((event.institution_id, event.redemption_id))
            keys.assessments.update((p.institution_id, p.assessment_id) for p in event.passes)
        if isinstance(event, ev.MicroCredentialDefined):
            keys.codes.add(event.code)
        if isinstance(event, ev.QualificationDefined):
            keys.codes.add(event.code)
            keys.codes.update(event.required)
            keys.codes.update(code for group in event.electives for code in group.codes)
        if isinstance(event, ev.AssessmentPassed):
            keys.codes.add(event.micro_credential_code)
        if isinstance(event, ev.AssessmentPassed | ev.CredentialIssued | ev.AssessmentRevoked):
            keys.assessments.add((event.institution_id, event.assessment_id))
        if isinstance(event, ev.CredentialIssued | ev.CredentialRevoked):
            keys.credentials.add((event.institution_id, event.credential_id))
        if isinstance(event, ev.QualificationAwarded):
            keys.codes.add(event.qualification_code)
            keys.awards.add(event.award_id)
            keys.assessments.update(
                (c.pass_ref.institution_id, c.pass_ref.assessment_id) for c in event.components
            )
        if isinstance(event, ev.QualificationRevoked):
            keys.awards.add(event.award_id)
    return keys


def _pairs(keys: set[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [k[0] for k in keys], [k[1] for k in keys]


async def load_state(conn: Conn, candidates: list[Candidate]) -> WriteState:
    keys = _collect(candidates)
    state = WriteState()
    state.stream_versions = dict.fromkeys(keys.streams, 0)
    for row in await conn.fetch(
        "SELECT stream, max(stream_version) AS v FROM ledger.events"
        " WHERE stream = ANY($1::text[]) GROUP BY stream",
        list(keys.streams),
    ):
        state.stream_versions[row["stream"]] = row["v"]
    if keys.institutions:
        state.institutions = dict.fromkeys(keys.institutions)
        for row in await conn.fetch(
            "SELECT * FROM ledger.institutions WHERE institution_id = ANY($1::text[])",
            list(keys.institutions),
        ):
            state.institutions[row["institution_id"]] = Institution(
                institution_id=row["institution_id"],
                name=row["name"],
                kind=row["kind"],
                accredited_sectors=list(row["accredited_sectors"]),
                max_level_halves=row["max_level_halves"],
                accredited=row["accredited"],
                scope=scope_from_json(row["accreditation"]),
            )
    if keys.codes:
        await _load_catalog(conn, state, keys.codes)
    if keys.assessments:
        state.assessments = dict.fromkeys(keys.assessments)
        for row in await conn.fetch(
            "SELECT a.* FROM ledger.assessments a"
            " JOIN unnest($1::text[], $2::text[]) AS k(i, a) ON (a.institution_id, a.assessment_id) = (k.i, k.a)",
            *_pairs(keys.assessments),
        ):
            assessment = Assessment(**dict(row))
            state.assessments[(assessment.institution_id, assessment.assessment_id)] = assessment
    if keys.credentials:
        state.credentials = dict.fromkeys(keys.credentials)
        for row in await conn.fetch(
            "SELECT c.* FROM ledger.credentials c"
            " JOIN unnest($1::text[], $2::text[]) AS k(i, c) ON (c.institution_id, c.credential_id) = (k.i, k.c)",
            *_pairs(keys.credentials),
        ):
            credential = Credential(**dict(row))
            state.credentials[(credential.institution_id, credential.credential_id)] = credential
    if keys.redemptions:
        state.redemptions = dict.fromkeys(keys.redemptions, False)
        for row in await conn.fetch(
            "SELECT r.* FROM ledger.redemptions r"
            " JOIN unnest($1::text[], $2::text[]) AS k(i, r) ON (r.institution_id, r.redemption_id) = (k.i, k.r)",
            *_pairs(keys.redemptions),
        ):
            state.redemptions[(row["institution_id"], row["redemption_id"])] = True
    if keys.awards:
        state.awards = dict.fromkeys(keys.awards)
        for row in await conn.fetch(
            "SELECT * FROM ledger.awards WHERE award_id = ANY($1::text[])", list(keys.awards)
        ):
            state.awards[row["award_id"]] = Award(**dict(row))
    learners, rules = judged_keys(candidates)
    if learners:
        await _load_banks(conn, state, learners)
    if rules:
        await _load_rules(conn, state, rules)
    return state


def _decoded(rows: list[Any]) -> list[tuple[ev.Event, int, dt.datetime]]:
    return [(_event_decoder.decode(r["data"]), r["position"], r["recorded_at"]) for r in rows]


async def _load_banks(conn: Conn, state: WriteState, learners: set[str]) -> None:
    """Each learner's bank from their whole stream, folded by the shared core."""
    streams = [f"learner-{learner}" for learner in sorted(learners)]
    rows = await conn.fetch(
        "SELECT stream, position, recorded_at, data::text AS data FROM ledger.events"
        " WHERE stream = ANY($1::text[]) ORDER BY position",
        streams,
    )
    by_stream: dict[str, list[Any]] = {stream: [] for stream in streams}
    for row in rows:
        by_stream[row["stream"]].append(row)
    for learner in sorted(learners):
        state.banks[learner] = fold(learner, _decoded(by_stream[f"learner-{learner}"]))


async def _load_rules(conn: Conn, state: WriteState, codes: set[str]) -> None:
    """Every version of the qualifications' rules, with the positions that recorded them."""
    rows = await conn.fetch(
        "SELECT position, recorded_at, data::text AS data FROM ledger.events"
        " WHERE stream = ANY($1::text[]) ORDER BY position",
        [f"qualification-{code}" for code in sorted(codes)],
    )
    state.catalog = fold_catalog(_decoded(list(rows)))
    state.catalog_codes = set(codes)


def scope_from_json(items: list[dict[str, Any]]) -> Scope:
    return tuple(
        Period(
            sector=i["sector"],
            max_level_halves=i["max_level_halves"],
            valid_from=None if i["valid_from"] is None else dt.date.fromisoformat(i["valid_from"]),
            valid_until=None
            if i["valid_until"] is None
            else dt.date.fromisoformat(i["valid_until"]),
        )
        for i in items
    )


def scope_to_json(scope: Scope) -> list[dict[str, Any]]:
    return [
        {
            "sector": p.sector,
            "max_level_halves": p.max_level_halves,
            "valid_from": None if p.valid_from is None else p.valid_from.isoformat(),
            "valid_until": None if p.valid_until is None else p.valid_until.isoformat(),
        }
        for p in scope
    ]


async def _load_catalog(conn: Conn, state: WriteState, codes: set[str]) -> None:
    state.micro_credentials = dict.fromkeys(codes)
    state.qualifications = dict.fromkeys(codes)
    for row in await conn.fetch(
        "SELECT * FROM ledger.micro_credentials WHERE code = ANY($1::text[])", list(codes)
    ):
        row_dict = dict(row)
        state.micro_credentials[row["code"]] = MicroCredential(**row_dict)
    for row in await conn.fetch(
        "SELECT * FROM ledger.qualifications WHERE code = ANY($1::text[])", list(codes)
    ):
        state.qualifications[row["code"]] = Qualification(**dict(row))


async def persist_changes(conn: Conn, changes: Changes) -> None:
    if changes.institutions:
        await conn.executemany(
            """
            INSERT INTO ledger.institutions AS t
                (institution_id, name, kind, accredited_sectors, max_level_halves, accredited,
                 accreditation)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (institution_id) DO UPDATE SET
                name = EXCLUDED.name, kind = EXCLUDED.kind,
                accredited_sectors = EXCLUDED.accredited_sectors,
                max_level_halves = EXCLUDED.max_level_halves, accredited = EXCLUDED.accredited,
                accreditation = EXCLUDED.accreditation
            """,
            [
                (
                    i.institution_id,
                    i.name,
                    i.kind,
                    i.accredited_sectors,
                    i.max_level_halves,
                    i.accredited,
                    scope_to_json(i.scope),
                )
                for i in changes.institutions.values()
            ],
        )
    if changes.micro_credentials:
        await conn.executemany(
            """
            INSERT INTO ledger.micro_credentials AS t
                (code, version, title, sector, level_halves, notional_hours, validity_years, definition)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (code) DO UPDATE SET
                version = EXCLUDED.version, title = EXCLUDED.title, sector = EXCLUDED.sector,
                level_halves = EXCLUDED.level_halves, notional_hours = EXCLUDED.notional_hours,
                validity_years = EXCLUDED.validity_years, definition = EXCLUDED.definition
            """,
            [
                (
                    m.code,
                    m.version,
                    m.title,
                    m.sector,
                    m.level_halves,
                    m.notional_hours,
                    m.validity_years,
                    m.definition,
                )
                for m in changes.micro_credentials.values()
            ],
        )
    if changes.qualifications:
        await conn.executemany(
            """
            INSERT INTO ledger.qualifications (code, version, definition) VALUES ($1, $2, $3)
            ON CONFLICT (code) DO UPDATE SET version = EXCLUDED.version, definition = EXCLUDED.definition
            """,
            [(q.code, q.version, q.definition) for q in changes.qualifications.values()],
        )
    await _persist_learner_rows(conn, changes)


async def _persist_learner_rows(conn: Conn, changes: Changes) -> None:
    if changes.new_assessments:
        rows = list(changes.new_assessments.values())
        await conn.execute(
            """
            INSERT INTO ledger.assessments
                (institution_id, assessment_id, learner_id, code, assessed_on, validity_years,
                 revoked, redeemed, position)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[],
                                 $6::smallint[], $7::boolean[], $8::boolean[], $9::bigint[])
            """,
            [a.institution_id for a in rows],
            [a.assessment_id for a in rows],
            [a.learner_id for a in rows],
            [a.code for a in rows],
            [a.assessed_on for a in rows],
            [a.validity_years for a in rows],
            [a.revoked for a in rows],
            [a.redeemed for a in rows],
            [a.position for a in rows],
        )
    if changes.updated_assessments:
        await conn.executemany(
            "UPDATE ledger.assessments SET revoked = $3, redeemed = $4"
            " WHERE institution_id = $1 AND assessment_id = $2",
            [
                (a.institution_id, a.assessment_id, a.revoked, a.redeemed)
                for a in changes.updated_assessments.values()
            ],
        )
    if changes.new_credentials:
        await conn.executemany(
            "INSERT INTO ledger.credentials"
            " (institution_id, credential_id, assessment_id, learner_id, revoked)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (c.institution_id, c.credential_id, c.assessment_id, c.learner_id, c.revoked)
                for c in changes.new_credentials.values()
            ],
        )
    if changes.updated_credentials:
        await conn.executemany(
            "UPDATE ledger.credentials SET revoked = $3 WHERE institution_id = $1 AND credential_id = $2",
            [
                (c.institution_id, c.credential_id, c.revoked)
                for c in changes.updated_credentials.values()
            ],
        )
    if changes.redemptions:
        await conn.executemany(
            "INSERT INTO ledger.redemptions (institution_id, redemption_id) VALUES ($1, $2)",
            list(changes.redemptions),
        )
    if changes.new_awards:
        await conn.executemany(
            "INSERT INTO ledger.awards (award_id, learner_id, qualification_code, revoked)"
            " VALUES ($1, $2, $3, $4)",
            [
                (a.award_id, a.learner_id, a.qualification_code, a.revoked)
                for a in changes.new_awards.values()
            ],
        )
    if changes.updated_awards:
        await conn.executemany(
            "UPDATE ledger.awards SET revoked = $2 WHERE award_id = $1",
            [(a.award_id, a.revoked) for a in changes.updated_awards.values()],
        )
