"""The projector's tables: checkpoint, its copy of the log, read model, thresholds, outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import msgspec

from domain.bank_summary import BankSummary, summarize
from domain.catalog import Catalog, fold_catalog
from domain.credit_bank import CreditBank, fold
from domain.holdings import empty_bank
from domain.recorded_by import recorded_by as own_events
from domain.replay import Threshold
from domain.shelf_life import utc_day
from domain.units import exact_text
from domain.views import bank_view, decision_view
from proto.derived import (
    CreditBankUpdated,
    EligibleComponent,
    QualificationEligible,
    bank_message_id,
    bank_subject,
    eligible_message_id,
    eligible_subject,
)
from proto.events import Event, PassRef, decode_event
from proto.partitions import Partition, learner_bucket
from services.common.db import Conn
from services.common.round_trips import CombinedWrite
from services.projector.bank_snapshot import decode_bank, encode_bank
from services.projector.log_entry import bank_stream
from services.projector.projection import BatchOutcome, VersionedBank

# Each partition's leader holds its partition's lock (``partition_lock_key``) and this one
# shared; a rebuild of the whole read model (a change of layout) holds this one alone.
PROJECTOR_LOCK_KEY = 0x50524F4A4543544F
_encoder = msgspec.json.Encoder()

History = list[tuple[Event, int, dt.datetime]]


def partition_lock_key(partition: Partition) -> int:
    return PROJECTOR_LOCK_KEY + (partition.count << 8) + partition.index + 1


async def checkpoint(conn: Conn, partition: Partition) -> int:
    """The partition's watermark: every one of its events at or before it is applied (0
    for a partition that has not run)."""
    position: int | None = await conn.fetchval(
        "SELECT position FROM projector.checkpoints WHERE partitions = $1 AND partition = $2",
        partition.count,
        partition.index,
    )
    return position or 0


async def checkpoints(conn: Conn) -> dict[Partition, int]:
    """Every stored checkpoint, of whatever layout."""
    rows = await conn.fetch("SELECT partitions, partition, position FROM projector.checkpoints")
    return {Partition(r["partition"], r["partitions"]): r["position"] for r in rows}


async def set_checkpoint(conn: Conn, partition: Partition, position: int) -> None:
    await conn.execute(
        "INSERT INTO projector.checkpoints (partitions, partition, position) VALUES ($1, $2, $3)"
        " ON CONFLICT (partitions, partition) DO UPDATE SET position = EXCLUDED.position",
        partition.count,
        partition.index,
        position,
    )


class CheckpointMoved(RuntimeError):
    """The partition's checkpoint is not where its leader left it: another writer ran."""


async def move_checkpoint(conn: Conn, partition: Partition, applied: int, to: int) -> None:
    """Move the checkpoint from ``applied`` (where this leader left it) to ``to``; one
    statement, which refuses (and so rolls the batch back) if anything else moved it."""
    status: str = await conn.execute(
        "UPDATE projector.checkpoints SET position = $4"
        " WHERE partitions = $1 AND partition = $2 AND position = $3",
        partition.count,
        partition.index,
        applied,
        to,
    )
    if status != "UPDATE 1":
        raise CheckpointMoved(f"partition {partition}'s checkpoint is no longer {applied}")


class LayoutMismatch(RuntimeError):
    """The read model is split into another number of partitions than this projector's."""


async def check_layout(conn: Conn, count: int) -> None:
    """Refuse to run partitions of ``count`` over a read model laid out in another count
    (its learners' rows are each other partitions'): the read model is rebuilt instead."""
    other = sorted({p.count for p in await checkpoints(conn) if p.count != count})
    if other:
        raise LayoutMismatch(
            f"the read model is laid out in {other[0]} partition(s), not {count}:"
            f" run `credit-ledger projector rebuild` with CREDIT_LEDGER_PROJECTOR_PARTITIONS={count}"
        )


def _history(rows: list[asyncpg.Record]) -> History:
    return [(decode_event(r["data"]), r["position"], r["recorded_at"]) for r in rows]


async def learner_history(
    conn: Conn, learner_id: str, up_to: int | None = None, recorded_by: str | None = None
) -> History:
    """The learner's events up to a position; with ``recorded_by``, what that institution
    recorded (``domain.recorded_by``: the events that name it, selected here by their
    ``institution_id``, with its redemptions of other institutions' passes trimmed)."""
    rows = await conn.fetch(
        "SELECT data::text AS data, position, recorded_at FROM projector.events"
        " WHERE bucket = $1 AND learner_id = $2 AND position <= $3"
        " AND ($4::text IS NULL OR institution_id = $4) ORDER BY position",
        learner_bucket(learner_id),
        learner_id,
        up_to if up_to is not None else 2**62,
        recorded_by,
    )
    history = _history(rows)
    return history if recorded_by is None else own_events(history, recorded_by)


async def consent_events(conn: Conn, learner_id: str) -> list[tuple[Event, int]]:
    """The learner's grants and withdrawals of consent applied so far, in log order."""
    rows = await conn.fetch(
        "SELECT data::text AS data, position FROM projector.events"
        " WHERE bucket = $1 AND learner_id = $2"
        " AND type IN ('ConsentGranted', 'ConsentWithdrawn') ORDER BY position",
        learner_bucket(learner_id),
        learner_id,
    )
    return [(decode_event(row["data"]), row["position"]) for row in rows]


async def satisfied_learners(
    conn: Conn, qualification_code: str, after_learner: str, limit: int
) -> list[str]:
    """The learners whose progress towards a qualification is satisfied, in id order."""
    rows = await conn.fetch(
        "SELECT learner_id FROM projector.progress WHERE qualification_code = $1 AND satisfied"
        " AND learner_id > $2 ORDER BY learner_id LIMIT $3",
        qualification_code,
        after_learner,
        limit,
    )
    return [r["learner_id"] for r in rows]


async def learners_recorded_by(
    conn: Conn, institution_id: str, after_learner: str, limit: int
) -> list[str]:
    """The learners an institution recorded an event for, in id order, after a learner."""
    rows = await conn.fetch(
        "SELECT DISTINCT learner_id FROM projector.events"
        " WHERE institution_id = $1 AND learner_id IS NOT NULL AND learner_id > $2"
        " ORDER BY learner_id LIMIT $3",
        institution_id,
        after_learner,
        limit,
    )
    return [r["learner_id"] for r in rows]


async def catalog_history(conn: Conn, up_to: int | None = None) -> History:
    """Catalog events (every partition's) up to a position; rows past a partition's
    checkpoint may be there already, written by another partition."""
    rows = await conn.fetch(
        "SELECT data::text AS data, position, recorded_at FROM projector.events"
        " WHERE learner_id IS NULL AND position <= $1 ORDER BY position",
        up_to if up_to is not None else 2**62,
    )
    return _history(rows)


async def load_banks(conn: Conn, learner_ids: list[str]) -> dict[str, VersionedBank]:
    """Many learners' banks (a batch's cache misses) with their streams' versions: each
    from its stored snapshot, or, for a bank stored before snapshots were, folded from its
    history. Every applied learner event writes its learner's row in the same transaction,
    so a learner without one has no events yet (version 0)."""
    banks: dict[str, VersionedBank] = {learner: (empty_bank(learner), 0) for learner in learner_ids}
    unfolded: dict[str, int | None] = {}
    for row in await conn.fetch(
        "SELECT learner_id, snapshot, stream_version FROM projector.credit_banks"
        " WHERE learner_id = ANY($1::text[])",
        learner_ids,
    ):
        if row["snapshot"] is None:
            unfolded[row["learner_id"]] = row["stream_version"]
        else:
            banks[row["learner_id"]] = (decode_bank(row["snapshot"]), row["stream_version"])
    if unfolded:
        folded = await _fold_histories(conn, list(unfolded))
        banks.update({learner: (bank, unfolded[learner]) for learner, bank in folded.items()})
    return banks


async def _fold_histories(conn: Conn, learner_ids: list[str]) -> dict[str, CreditBank]:
    histories: dict[str, History] = {learner: [] for learner in learner_ids}
    for row in await conn.fetch(
        "SELECT learner_id, data::text AS data, position, recorded_at FROM projector.events"
        " WHERE (bucket, learner_id) IN (SELECT * FROM unnest($1::smallint[], $2::text[]))"
        " ORDER BY learner_id, position",
        [learner_bucket(learner) for learner in learner_ids],
        learner_ids,
    ):
        histories[row["learner_id"]].append(
            (decode_event(row["data"]), row["position"], row["recorded_at"])
        )
    return {learner: fold(learner, history) for learner, history in histories.items()}


async def load_catalog(conn: Conn, up_to: int) -> tuple[Catalog, dict[str, int]]:
    """The catalog as of a partition's checkpoint, and the version each catalog stream had
    reached then (streams whose rows predate versions are left out: not checked)."""
    catalog = fold_catalog(await catalog_history(conn, up_to))
    rows = await conn.fetch(
        "SELECT stream, max(stream_version) AS version FROM projector.events"
        " WHERE learner_id IS NULL AND position <= $1 AND stream_version IS NOT NULL"
        " GROUP BY stream",
        up_to,
    )
    return catalog, {r["stream"]: r["version"] for r in rows}


async def write_batch(
    conn: Conn,
    outcome: BatchOutcome,
    partition: Partition,
    applied: int,
    watermark: int,
    *,
    publish_bank_updates: bool,
) -> int:
    """Persist one staged batch with the partition's checkpoint moved from ``applied`` to
    ``watermark`` (the batch's last position, or further when the ledger said nothing of
    the partition lies between); returns how many messages it queued."""
    entries = outcome.entries
    # Thresholds are rare and need what their INSERT returns: statements of their own.
    queued = await _write_thresholds(conn, outcome.thresholds)
    # Everything else in one round trip (services.common.round_trips): the parts touch
    # different tables, and the checkpoint's move is the statement's last part.
    write = CombinedWrite()
    # A catalog event is every partition's: the first to apply it stores it.
    write.add(
        """
        INSERT INTO projector.events
            (position, stream, type, data, recorded_at, learner_id, bucket, stream_version,
             institution_id)
        SELECT p, s, t, d::json, r, l, b, v, i
        FROM unnest({0}::bigint[], {1}::text[], {2}::text[], {3}::text[], {4}::timestamptz[],
                    {5}::text[], {6}::smallint[], {7}::bigint[], {8}::text[])
            AS u(p, s, t, d, r, l, b, v, i)
        ON CONFLICT (position) DO NOTHING
        """,
        [e.position for e in entries],
        [e.stream for e in entries],
        [e.type for e in entries],
        [e.data_json.decode() for e in entries],
        [e.recorded_at for e in entries],
        [e.learner_id for e in entries],
        [e.bucket for e in entries],
        [e.stream_version for e in entries],
        [e.institution_id for e in entries],
    )
    # Each changed learner's summary, computed once for its row and its message.
    summaries = {
        learner: summarize(bank, utc_day(bank.recorded_at or entries[-1].recorded_at))
        for learner, bank in outcome.banks.items()
    }
    _write_banks(write, outcome, summaries, entries[-1].recorded_at)
    _write_progress(write, outcome)
    updates = _queue_bank_updates(write, outcome, summaries) if publish_bank_updates else None
    moved = write.add(
        "UPDATE projector.checkpoints SET position = {3}"
        " WHERE partitions = {0} AND partition = {1} AND position = {2} RETURNING 1",
        partition.count,
        partition.index,
        applied,
        max(watermark, outcome.last_position),
    )
    counts = await write.fetchrow(
        conn,
        f"SELECT (SELECT count(*) FROM {moved}) AS moved,"
        f" {f'(SELECT count(*) FROM {updates})' if updates else '0'} AS queued",
    )
    if counts["moved"] != 1:
        raise CheckpointMoved(f"partition {partition}'s checkpoint is no longer {applied}")
    return queued + int(counts["queued"])


def _write_banks(
    write: CombinedWrite, outcome: BatchOutcome, summaries: dict[str, BankSummary], at: dt.datetime
) -> None:
    """Every changed bank in one part."""
    if not outcome.banks:
        return
    learners = list(outcome.banks)
    banks = [outcome.banks[learner] for learner in learners]
    write.add(
        """
        INSERT INTO projector.credit_banks
            (learner_id, position, summary, updated_at, snapshot, bucket, stream_version)
        SELECT l, p, s::json, u, b, k, v
        FROM unnest({0}::text[], {1}::bigint[], {2}::text[], {3}::timestamptz[], {4}::bytea[],
                    {5}::smallint[], {6}::bigint[])
            AS r(l, p, s, u, b, k, v)
        ON CONFLICT (learner_id) DO UPDATE SET
            position = EXCLUDED.position, summary = EXCLUDED.summary,
            updated_at = EXCLUDED.updated_at, snapshot = EXCLUDED.snapshot,
            bucket = EXCLUDED.bucket, stream_version = EXCLUDED.stream_version
        """,
        learners,
        [bank.position for bank in banks],
        [_encoder.encode(bank_view(summaries[learner])).decode() for learner in learners],
        [bank.recorded_at or at for bank in banks],
        [encode_bank(bank) for bank in banks],
        [learner_bucket(learner) for learner in learners],
        [outcome.versions[bank_stream(learner)] for learner in learners],
    )


def _write_progress(write: CombinedWrite, outcome: BatchOutcome) -> None:
    """Every changed decision in one part."""
    if not outcome.progress:
        return
    keys = list(outcome.progress)
    decisions = [outcome.progress[key] for key in keys]
    write.add(
        """
        INSERT INTO projector.progress
            (learner_id, qualification_code, rule_version, satisfied, position, decision, bucket)
        SELECT l, q, v, s, p, d::json, b
        FROM unnest({0}::text[], {1}::text[], {2}::int[], {3}::bool[], {4}::bigint[], {5}::text[],
                    {6}::smallint[])
            AS r(l, q, v, s, p, d, b)
        ON CONFLICT (learner_id, qualification_code) DO UPDATE SET
            rule_version = EXCLUDED.rule_version, satisfied = EXCLUDED.satisfied,
            position = EXCLUDED.position, decision = EXCLUDED.decision
        """,
        [learner for learner, _code in keys],
        [code for _learner, code in keys],
        [d.rule_version for d in decisions],
        [d.satisfied for d in decisions],
        [d.bank_position for d in decisions],
        [_encoder.encode(decision_view(d)).decode() for d in decisions],
        [learner_bucket(learner) for learner, _code in keys],
    )


def eligible_message(threshold: Threshold) -> QualificationEligible:
    d = threshold.decision
    return QualificationEligible(
        message_id=eligible_message_id(
            d.learner_id, d.qualification_code, d.rule_version, threshold.award_generation
        ),
        learner_id=d.learner_id,
        qualification_code=d.qualification_code,
        qualification_version=d.rule_version,
        award_generation=threshold.award_generation,
        components=[
            EligibleComponent(
                micro_credential_code=c.code,
                pass_ref=PassRef(
                    institution_id=c.pass_key.institution_id, assessment_id=c.pass_key.assessment_id
                ),
                counted_hours=c.counted_hours,
                via_qualification=c.via_qualification,
            )
            for c in d.counted
        ],
        counted_hours=d.counted_hours,
        decided_at_position=threshold.position,
        decided_at=d.evaluated_at,
    )


async def _write_thresholds(conn: Conn, thresholds: list[Threshold]) -> int:
    """Record each threshold once; only the newly recorded ones go to the outbox (two
    statements for the whole batch)."""
    if not thresholds:
        return 0
    # A rule met at two events of one batch is one threshold: the first.
    messages: dict[str, QualificationEligible] = {}
    for message in map(eligible_message, thresholds):
        messages.setdefault(message.message_id, message)
    recorded = await conn.fetch(
        """
        INSERT INTO projector.thresholds
            (learner_id, qualification_code, rule_version, award_generation, position, message_id)
        SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bigint[],
                             $6::text[])
        ON CONFLICT DO NOTHING
        RETURNING message_id
        """,
        [m.learner_id for m in messages.values()],
        [m.qualification_code for m in messages.values()],
        [m.qualification_version for m in messages.values()],
        [m.award_generation for m in messages.values()],
        [m.decided_at_position for m in messages.values()],
        list(messages),
    )
    fresh = [messages[r["message_id"]] for r in recorded]
    return await _enqueue_all(
        conn,
        [(m.message_id, eligible_subject(m.qualification_code, m.learner_id), m) for m in fresh],
    )


def _queue_bank_updates(
    write: CombinedWrite, outcome: BatchOutcome, summaries: dict[str, BankSummary]
) -> str | None:
    """One CreditBankUpdated per changed learner, queued by one part; returns the part's
    name (its RETURNING rows are the new messages), None when nothing changed."""
    messages = []
    for learner, bank in outcome.banks.items():
        summary = summaries[learner]
        messages.append(
            CreditBankUpdated(
                message_id=bank_message_id(learner, bank.position),
                learner_id=learner,
                position=bank.position,
                total_hours=summary.total_hours,
                total_credits=exact_text(summary.total_credits),
                credit_points=exact_text(summary.credit_points),
                held_qualifications=sorted({a.qualification_code for a in summary.qualifications}),
            )
        )
    if not messages:
        return None
    return write.add(
        _ENQUEUE_SQL.format("{0}", "{1}", "{2}"),
        [m.message_id for m in messages],
        [bank_subject(m.learner_id) for m in messages],
        [_encoder.encode(m) for m in messages],
    )


_ENQUEUE_SQL = (
    "INSERT INTO projector.outbox (message_id, subject, payload)"
    " SELECT * FROM unnest({0}::text[], {1}::text[], {2}::bytea[])"
    " ON CONFLICT (message_id) DO NOTHING RETURNING id"
)


async def _enqueue_all(conn: Conn, messages: list[tuple[str, str, Any]]) -> int:
    """(message id, subject, message) into the outbox in one statement; returns how many
    were new."""
    if not messages:
        return 0
    rows = await conn.fetch(
        _ENQUEUE_SQL.format("$1", "$2", "$3"),
        [message_id for message_id, _, _ in messages],
        [subject for _, subject, _ in messages],
        [_encoder.encode(message) for _, _, message in messages],
    )
    return len(rows)
