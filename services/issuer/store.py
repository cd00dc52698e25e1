"""The issuer's tables: decisions, credentials, revoked awards, status lists, outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg
import msgspec

from proto.issuer import (
    BadgeCredentialIssued,
    BadgeCredentialRevoked,
    issued_subject,
    issued_subject_v2,
    issued_v2_of,
    revoked_subject,
    revoked_subject_v2,
    revoked_v2_of,
)
from services.common.db import Conn
from services.issuer.credentials.status_list import (
    PURPOSE,
    empty_bits,
    is_set,
    with_bit_set,
)

# Serializes everything done to one award (signing vs. revoking, across replicas), so a
# revocation that races the signing can never leave the credential's bit clear.
_AWARD_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7419))"


@dataclass(frozen=True, slots=True)
class CredentialRow:
    credential_id: str
    award_id: str
    learner_id: str
    learner_hash: str
    qualification_code: str
    qualification_version: int
    award_generation: int
    award_position: int
    status_list_id: int
    status_index: int
    key_id: str
    jwt: str
    valid_from: dt.datetime
    issued_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None


_COLUMNS = (
    "credential_id::text AS credential_id, award_id::text AS award_id, learner_id,"
    " learner_hash, qualification_code, qualification_version, award_generation,"
    " award_position, status_list_id, status_index, key_id, jwt, valid_from, issued_at,"
    " revoked_at, revocation_reason"
)


def _row(record: asyncpg.Record) -> CredentialRow:
    return CredentialRow(**dict(record))


async def record_decision(
    conn: Conn,
    *,
    message_id: str,
    learner_id: str,
    qualification_code: str,
    outcome: str,
    detail: str,
    award_id: str | None,
    decided_at_position: int,
    deliveries: int,
) -> None:
    """Why an eligibility message was acknowledged: the last decision on it wins."""
    await conn.execute(
        """
        INSERT INTO issuer.award_decisions
            (message_id, learner_id, qualification_code, outcome, detail, award_id,
             decided_at_position, deliveries)
        VALUES ($1, $2, $3, $4, $5, $6::uuid, $7, $8)
        ON CONFLICT (message_id) DO UPDATE SET
            outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, award_id = EXCLUDED.award_id,
            decided_at_position = EXCLUDED.decided_at_position,
            deliveries = EXCLUDED.deliveries, decided_at = now()
        """,
        message_id,
        learner_id,
        qualification_code,
        outcome,
        detail[:4000],
        award_id,
        decided_at_position,
        deliveries,
    )


async def has_credential(conn: Conn, award_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM issuer.credentials WHERE award_id = $1::uuid", award_id
    )
    return found is not None


async def next_status_index(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT nextval('issuer.status_index_seq')")
    return value


async def lock_award(conn: Conn, award_id: str) -> None:
    await conn.execute(_AWARD_LOCK_SQL, award_id)


async def ensure_status_list(conn: Conn, list_id: int) -> None:
    await conn.execute(
        "INSERT INTO issuer.status_lists (list_id, purpose, bits) VALUES ($1, $2, $3)"
        " ON CONFLICT (list_id) DO NOTHING",
        list_id,
        PURPOSE,
        empty_bits(),
    )


async def insert_credential(conn: Conn, row: CredentialRow) -> bool:
    """Store the credential unless the award already has one; True if this one was stored."""
    inserted = await conn.fetchval(
        """
        INSERT INTO issuer.credentials
            (credential_id, award_id, learner_id, learner_hash, qualification_code,
             qualification_version, award_generation, award_position, status_list_id,
             status_index, key_id, jwt, valid_from)
        VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (award_id) DO NOTHING
        RETURNING 1
        """,
        row.credential_id,
        row.award_id,
        row.learner_id,
        row.learner_hash,
        row.qualification_code,
        row.qualification_version,
        row.award_generation,
        row.award_position,
        row.status_list_id,
        row.status_index,
        row.key_id,
        row.jwt,
        row.valid_from,
    )
    return inserted is not None


async def remember_revoked_award(
    conn: Conn, award_id: str, reason: str, revoked_at: dt.datetime, position: int
) -> None:
    await conn.execute(
        "INSERT INTO issuer.revoked_awards (award_id, reason, revoked_at, position)"
        " VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (award_id) DO NOTHING",
        award_id,
        reason,
        revoked_at,
        position,
    )


async def revoked_award(conn: Conn, award_id: str) -> tuple[str, dt.datetime] | None:
    record = await conn.fetchrow(
        "SELECT reason, revoked_at FROM issuer.revoked_awards WHERE award_id = $1::uuid",
        award_id,
    )
    return None if record is None else (record["reason"], record["revoked_at"])


async def credential_for_update(conn: Conn, award_id: str) -> CredentialRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM issuer.credentials WHERE award_id = $1::uuid FOR UPDATE",
        award_id,
    )
    return None if record is None else _row(record)


async def set_status_bit(conn: Conn, list_id: int, index: int) -> None:
    """Set one bit; the row lock orders concurrent revocations in the same list."""
    bits = await conn.fetchval(
        "SELECT bits FROM issuer.status_lists WHERE list_id = $1 FOR UPDATE", list_id
    )
    if bits is None:
        raise RuntimeError(f"status list {list_id} does not exist")
    if is_set(bytes(bits), index):
        return
    await conn.execute(
        "UPDATE issuer.status_lists SET bits = $2, version = version + 1, updated_at = now()"
        " WHERE list_id = $1",
        list_id,
        with_bit_set(bytes(bits), index),
    )


async def mark_revoked(conn: Conn, award_id: str, reason: str, revoked_at: dt.datetime) -> None:
    await conn.execute(
        "UPDATE issuer.credentials SET revoked_at = $2, revocation_reason = $3"
        " WHERE award_id = $1::uuid AND revoked_at IS NULL",
        award_id,
        revoked_at,
        reason,
    )


async def status_list(conn: Conn, list_id: int) -> tuple[bytes, int, dt.datetime] | None:
    record = await conn.fetchrow(
        "SELECT bits, version, updated_at FROM issuer.status_lists WHERE list_id = $1", list_id
    )
    if record is None:
        return None
    return bytes(record["bits"]), record["version"], record["updated_at"]


async def credentials_of(conn: Conn, learner_id: str, limit: int) -> list[CredentialRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM issuer.credentials WHERE learner_id = $1"
        " ORDER BY award_position LIMIT $2",
        learner_id,
        limit,
    )
    return [_row(r) for r in records]


async def credential(conn: Conn, credential_id: uuid.UUID) -> CredentialRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM issuer.credentials WHERE credential_id = $1", credential_id
    )
    return None if record is None else _row(record)


# --- outbox ------------------------------------------------------------------------------


# Each fact is queued as v2 (no learner id) and, during v1's deprecation window, as v1 too
# (proto/issuer.py: V1_SUNSET, CREDIT_LEDGER_ISSUER_PUBLISH_V1). Their message ids differ,
# so the broker de-duplicates each version on its own.


async def queue_issued(conn: Conn, message: BadgeCredentialIssued, *, publish_v1: bool) -> None:
    v2 = issued_v2_of(message)
    await _queue(
        conn,
        v2.message_id,
        issued_subject_v2(v2.qualification_code, v2.learner_hash),
        msgspec.json.encode(v2),
    )
    if publish_v1:
        await _queue(
            conn,
            message.message_id,
            issued_subject(message.qualification_code, message.learner_hash),
            msgspec.json.encode(message),
        )


async def queue_revoked(conn: Conn, message: BadgeCredentialRevoked, *, publish_v1: bool) -> None:
    v2 = revoked_v2_of(message)
    await _queue(
        conn,
        v2.message_id,
        revoked_subject_v2(v2.qualification_code, v2.learner_hash),
        msgspec.json.encode(v2),
    )
    if publish_v1:
        await _queue(
            conn,
            message.message_id,
            revoked_subject(message.qualification_code, message.learner_hash),
            msgspec.json.encode(message),
        )


async def _queue(conn: Conn, message_id: str, subject: str, payload: bytes) -> None:
    await conn.execute(
        "INSERT INTO issuer.outbox (message_id, subject, payload) VALUES ($1, $2, $3)"
        " ON CONFLICT (message_id) DO NOTHING",
        message_id,
        subject,
        payload,
    )
