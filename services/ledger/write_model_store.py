"""Loads the write model for the keys a commit group touches, and persists its changes.

Runs inside the append transaction, after the append lock is taken, so what it reads is
exactly what the log says up to the current head.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple, cast

import msgspec

from domain.accreditation import Period, Scope
from domain.catalog import fold_catalog
from domain.credit_bank import fold
from proto import events as ev
from proto.events import LedgerEvent
from services.common.db import Conn
from services.common.round_trips import CombinedRead, CombinedRows, CombinedWrite
from services.ledger.write_model import (
    Assessment,
    Award,
    Candidate,
    Changes,
    Consent,
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
        self.consents: set[str] = set()
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
        if isinstance(event, ev.ConsentGranted):
            keys.institutions.add(event.grantee_institution_id)
        if isinstance(event, ev.ConsentGranted | ev.ConsentWithdrawn):
            keys.consents.add(event.grant_id)
    return keys


def _pairs(keys: set[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [k[0] for k in keys], [k[1] for k in keys]


class GroupRead(NamedTuple):
    """What a commit group reads under the append lock, in one round trip."""

    head: Head | None
    # Earlier copies of the candidates' event ids, by id (see group.RecordedRow).
    existing: dict[str, dict[str, Any]]
    state: WriteState


class Head(NamedTuple):
    position: int
    hash: bytes
    recorded_at: dt.datetime


async def load_group(conn: Conn, candidates: list[Candidate]) -> GroupRead:
    """The log's head, earlier copies of the candidates' ids, and their write state."""
    read = CombinedRead()
    head = read.add(
        "SELECT position, encode(hash, 'hex') AS hash, recorded_at FROM ledger.events"
        " ORDER BY position DESC LIMIT 1"
    )
    existing = read.add(
        "SELECT event_id::text AS event_id, position, stream, stream_version, type,"
        " data::text AS data, recorded_at, encode(hash, 'hex') AS hash FROM ledger.events"
        " WHERE event_id = ANY({0}::uuid[])",
        [c.event_id for c in candidates],
    )
    parts = _StateParts(read, candidates)
    rows = await read.fetch(conn)
    heads = rows.rows(head, _HeadRow)
    return GroupRead(
        head=Head(heads[0].position, bytes.fromhex(heads[0].hash), _utc(heads[0].recorded_at))
        if heads
        else None,
        existing={row.event_id: _recorded(row) for row in rows.rows(existing, _ExistingRow)},
        state=parts.state(rows),
    )


async def load_state(conn: Conn, candidates: list[Candidate]) -> WriteState:
    """The write state ``candidates`` are decided against, in one round trip."""
    read = CombinedRead()
    parts = _StateParts(read, candidates)
    return parts.state(await read.fetch(conn))


def _utc(moment: dt.datetime) -> dt.datetime:
    """PostgreSQL writes a timestamptz in its session's zone; the ledger speaks UTC."""
    return moment.astimezone(dt.UTC)


class _HeadRow(msgspec.Struct):
    position: int
    hash: str
    recorded_at: dt.datetime


class _ExistingRow(msgspec.Struct):
    event_id: str
    position: int
    stream: str
    stream_version: int
    type: str
    data: str
    recorded_at: dt.datetime
    hash: str


def _recorded(row: _ExistingRow) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "position": row.position,
        "stream": row.stream,
        "stream_version": row.stream_version,
        "type": row.type,
        "data": row.data,
        "recorded_at": _utc(row.recorded_at),
        "hash": bytes.fromhex(row.hash),
    }


class _VersionRow(msgspec.Struct):
    stream: str
    v: int


class _RedemptionRow(msgspec.Struct):
    institution_id: str
    redemption_id: str


class _EventRow(msgspec.Struct):
    stream: str
    position: int
    recorded_at: dt.datetime
    data: str


class _StateParts:
    """The parts of a ``CombinedRead`` that load the write state for ``candidates``."""

    def __init__(self, read: CombinedRead, candidates: list[Candidate]) -> None:
        keys = _collect(candidates)
        self._keys = keys
        self._learners, self._rules = judged_keys(candidates)
        self._versions = read.add(
            "SELECT stream, max(stream_version) AS v FROM ledger.events"
            " WHERE stream = ANY({0}::text[]) GROUP BY stream",
            list(keys.streams),
        )
        self._parts: dict[str, int] = {}
        if keys.institutions:
            self._parts["institutions"] = read.add(
                # Decoded as Institution itself: its accreditation periods are its scope.
                "SELECT *, accreditation AS scope FROM ledger.institutions"
                " WHERE institution_id = ANY({0}::text[])",
                list(keys.institutions),
            )
        if keys.codes:
            self._parts["micro_credentials"] = read.add(
                "SELECT * FROM ledger.micro_credentials WHERE code = ANY({0}::text[])",
                list(keys.codes),
            )
            self._parts["qualifications"] = read.add(
                "SELECT * FROM ledger.qualifications WHERE code = ANY({0}::text[])",
                list(keys.codes),
            )
        for name, table, key in (
            ("assessments", "assessments", "assessment_id"),
            ("credentials", "credentials", "credential_id"),
            ("redemptions", "redemptions", "redemption_id"),
        ):
            pairs: set[tuple[str, str]] = getattr(keys, name)
            if pairs:
                self._parts[name] = read.add(
                    f"SELECT t.* FROM ledger.{table} t JOIN unnest({{0}}::text[], {{1}}::text[])"
                    f" AS k(i, x) ON (t.institution_id, t.{key}) = (k.i, k.x)",
                    *_pairs(pairs),
                )
        if keys.awards:
            self._parts["awards"] = read.add(
                "SELECT * FROM ledger.awards WHERE award_id = ANY({0}::text[])",
                list(keys.awards),
            )
        if keys.consents:
            self._parts["consents"] = read.add(
                "SELECT * FROM ledger.consents WHERE grant_id = ANY({0}::text[])",
                list(keys.consents),
            )
        if self._learners:
            # Each learner's bank from their whole stream, folded by the shared core.
            self._parts["banks"] = _events_of(
                read, [f"learner-{learner}" for learner in sorted(self._learners)]
            )
        if self._rules:
            # Every version of the qualifications' rules, with the positions that recorded them.
            self._parts["rules"] = _events_of(
                read, [f"qualification-{code}" for code in sorted(self._rules)]
            )

    def state(self, rows: CombinedRows) -> WriteState:
        keys, parts = self._keys, self._parts
        state = WriteState()
        state.stream_versions = dict.fromkeys(keys.streams, 0)
        for version in rows.rows(self._versions, _VersionRow):
            state.stream_versions[version.stream] = version.v
        if "institutions" in parts:
            state.institutions = dict.fromkeys(keys.institutions)
            for institution in rows.rows(parts["institutions"], Institution):
                state.institutions[institution.institution_id] = institution
        if "micro_credentials" in parts:
            state.micro_credentials = dict.fromkeys(keys.codes)
            state.qualifications = dict.fromkeys(keys.codes)
            for micro in rows.rows(parts["micro_credentials"], MicroCredential):
                state.micro_credentials[micro.code] = micro
            for qualification in rows.rows(parts["qualifications"], Qualification):
                state.qualifications[qualification.code] = qualification
        if "assessments" in parts:
            state.assessments = dict.fromkeys(keys.assessments)
            for assessment in rows.rows(parts["assessments"], Assessment):
                state.assessments[(assessment.institution_id, assessment.assessment_id)] = (
                    assessment
                )
        if "credentials" in parts:
            state.credentials = dict.fromkeys(keys.credentials)
            for credential in rows.rows(parts["credentials"], Credential):
                state.credentials[(credential.institution_id, credential.credential_id)] = (
                    credential
                )
        if "redemptions" in parts:
            state.redemptions = dict.fromkeys(keys.redemptions, False)
            for redemption in rows.rows(parts["redemptions"], _RedemptionRow):
                state.redemptions[(redemption.institution_id, redemption.redemption_id)] = True
        if "awards" in parts:
            state.awards = dict.fromkeys(keys.awards)
            for award in rows.rows(parts["awards"], Award):
                state.awards[award.award_id] = award
        if "consents" in parts:
            state.consents = dict.fromkeys(keys.consents)
            for consent in rows.rows(parts["consents"], Consent):
                state.consents[consent.grant_id] = consent
        if "banks" in parts:
            by_stream: dict[str, list[_EventRow]] = {}
            for event_row in rows.rows(parts["banks"], _EventRow):
                by_stream.setdefault(event_row.stream, []).append(event_row)
            for learner in sorted(self._learners):
                state.banks[learner] = fold(
                    learner, _decoded(by_stream.get(f"learner-{learner}", []))
                )
        if "rules" in parts:
            state.catalog = fold_catalog(_decoded(rows.rows(parts["rules"], _EventRow)))
            state.catalog_codes = set(self._rules)
        return state


def _events_of(read: CombinedRead, streams: list[str]) -> int:
    """A part of ``read``: every event of ``streams``, in log order (``_EventRow``)."""
    return read.add(
        "SELECT stream, position, recorded_at, data::text AS data FROM ledger.events"
        " WHERE stream = ANY({0}::text[])",
        streams,
        order_by="position",
    )


def _decoded(rows: list[_EventRow]) -> list[tuple[ev.Event, int, dt.datetime]]:
    return [(_event_decoder.decode(r.data), r.position, _utc(r.recorded_at)) for r in rows]


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


async def persist_changes(conn: Conn, changes: Changes, write: CombinedWrite) -> None:
    """Writes ``changes``: upserts and updates now; the new learner rows that an INSERT of
    many rows can hold are added to ``write``, the group's one statement for its inserts."""
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
    await _persist_learner_rows(conn, changes, write)


async def _persist_learner_rows(conn: Conn, changes: Changes, write: CombinedWrite) -> None:
    if changes.new_assessments:
        rows = list(changes.new_assessments.values())
        write.add(
            """
            INSERT INTO ledger.assessments
                (institution_id, assessment_id, learner_id, code, assessed_on, validity_years,
                 revoked, redeemed, position)
            SELECT * FROM unnest({0}::text[], {1}::text[], {2}::text[], {3}::text[], {4}::date[],
                                 {5}::smallint[], {6}::boolean[], {7}::boolean[], {8}::bigint[])
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
    await _persist_awards_and_consents(conn, changes)


async def _persist_awards_and_consents(conn: Conn, changes: Changes) -> None:
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
    if changes.new_consents:
        await conn.executemany(
            "INSERT INTO ledger.consents"
            " (grant_id, learner_id, grantee_institution_id, valid_until, position, withdrawn)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (
                    c.grant_id,
                    c.learner_id,
                    c.grantee_institution_id,
                    c.valid_until,
                    c.position,
                    c.withdrawn,
                )
                for c in changes.new_consents.values()
            ],
        )
    if changes.withdrawn_consents:
        await conn.executemany(
            "UPDATE ledger.consents SET withdrawn = true WHERE grant_id = $1",
            [(grant_id,) for grant_id in sorted(changes.withdrawn_consents)],
        )
