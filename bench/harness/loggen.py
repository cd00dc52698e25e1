"""A log of AssessmentPassed events decided and chained by the ledger's own group builder.

The choices (learners, sectors, offers, days) are the benchmark's; everything the ledger
decides is the ledger's: ``write_model_store.load_state`` loads the write state from the
database (over the ledger's kind of pool) exactly as a group commit does, ``GroupBuilder`` decides each candidate (the
catalog snapshot it records, stream versions) and chains it, and the resulting ``LogRow``s
are COPYed into ``ledger.events`` in the columns the group commit inserts. A candidate the
ledger would refuse stops the generation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from credit_ledger.demo_catalog import INSTITUTIONS, MICRO_CREDENTIALS
from domain.units import level_to_halves
from proto import events as ev
from proto.envelope import Actor, AppendResult, Role
from proto.events import SCHEMA_VERSION
from services.common import db
from services.ledger.group import GroupBuilder, LogRow
from services.ledger.write_model import Candidate, Changes, WriteState
from services.ledger.write_model_store import load_state

# bench.harness.loadgen's EventFactory posts for learners LEARNER_BASE + [0, learners).
LEARNER_BASE = 200_000_000_000
EVENT_COLUMNS = [
    "position",
    "event_id",
    "stream",
    "stream_version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "hash",
    "bucket",
]
COPY_BATCH = 10_000
GROUP_SIZE = 200  # candidates per group commit, sharing one recorded_at
SECTOR_WEIGHTS = {"CAPITAL-GOODS": 4, "TOURISM-HOSPITALITY": 4, "IT-ITES": 2}


@dataclass(frozen=True)
class Offer:
    """One micro-credential as one accredited institution may record a pass of it."""

    code: str
    institution_id: str
    mode: ev.AssessmentMode


def catalog_offers() -> dict[str, list[list[Offer]]]:
    """By sector: per micro-credential, every institution that may record a pass of it."""
    by_sector: dict[str, list[list[Offer]]] = {}
    for micro in MICRO_CREDENTIALS:
        offers = [
            Offer(
                code=micro.code,
                institution_id=institution.institution_id,
                mode=ev.AssessmentMode.RPL
                if institution.kind == ev.InstitutionKind.ASSESSMENT_BODY
                else ev.AssessmentMode.TRAINING,
            )
            for institution in INSTITUTIONS
            if institution.accredited
            and micro.sector in institution.accredited_sectors
            and level_to_halves(micro.level) <= level_to_halves(institution.max_level)
        ]
        if offers:
            by_sector.setdefault(micro.sector, []).append(offers)
    return by_sector


class PassCandidates:
    """What institutions post: learners each studying in one sector (weights 4:4:2), passes
    of that sector's micro-credentials at institutions accredited for them."""

    def __init__(
        self, *, learners: int, key_ids: dict[str, str], today: dt.date, seed: int
    ) -> None:
        self.rng = random.Random(seed)
        self.learners = learners
        offers = catalog_offers()
        sectors = [s for s in SECTOR_WEIGHTS if s in offers]
        self.sector_offers = [offers[s] for s in sectors]
        weights = [SECTOR_WEIGHTS[s] for s in sectors]
        self.learner_sector = self.rng.choices(range(len(sectors)), weights, k=learners)
        self.actors = {
            institution: Actor(role=Role.INSTITUTION, key_id=key_id, institution_id=institution)
            for institution, key_id in key_ids.items()
        }
        self.days = [today - dt.timedelta(days=d) for d in range(7, 3 * 365)]
        self.made = 0

    def every_offer(self) -> list[Candidate]:
        """One candidate per (institution, code) offered: what load_state must know about."""
        offers = [o for sector in self.sector_offers for group in sector for o in group]
        return [self._candidate(o, 0) for o in offers]

    def next(self) -> Candidate:
        rng = self.rng
        learner = rng.randrange(self.learners)
        offer = rng.choice(rng.choice(self.sector_offers[self.learner_sector[learner]]))
        return self._candidate(offer, learner)

    def _candidate(self, offer: Offer, learner: int) -> Candidate:
        self.made += 1
        learner_id = f"{LEARNER_BASE + learner:012d}"
        event = ev.AssessmentPassed(
            assessment_id=f"ASMT-{self.made:010d}",
            learner_id=learner_id,
            institution_id=offer.institution_id,
            micro_credential_code=offer.code,
            mode=offer.mode,
            assessed_on=self.rng.choice(self.days),
        )
        return Candidate(
            event_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            event=event,
            stream=ev.stream_of(event),
            expected_version=None,
            actor=self.actors[offer.institution_id],
            request_id=uuid.UUID(int=self.rng.getrandbits(128), version=4).hex,
        )


class LogWriter:
    """Decides and chains groups of candidates after a head, as the group commit does."""

    def __init__(
        self,
        state: WriteState,
        head: int,
        head_hash: bytes,
        first_at: dt.datetime,
        span: dt.timedelta,
        total: int,
    ) -> None:
        self.state = state
        self.position = head
        self.hash = head_hash
        self.first_at = first_at
        self.span_us = max(0, int(span / dt.timedelta(microseconds=1)))
        self.total = max(total, 1)
        self.done = 0

    def rows(self, candidates: list[Candidate]) -> list[LogRow]:
        rows: list[LogRow] = []
        for start in range(0, len(candidates), GROUP_SIZE):
            group = candidates[start : start + GROUP_SIZE]
            # recorded_at never runs backwards: from the head's moment to the end of the span.
            recorded_at = self.first_at + dt.timedelta(
                microseconds=self.span_us * self.done // self.total
            )
            builder = GroupBuilder(self.state, {}, self.position, self.hash, recorded_at)
            for outcome in builder.add(group, atomic=False):
                if not isinstance(outcome, AppendResult):
                    raise RuntimeError(f"the ledger refuses a generated event: {outcome!r}")
            self.state, self.position, self.hash = builder.state, builder.position, builder.hash
            self.done += len(group)
            rows.extend(builder.rows)
        # Assessment ids are unique: the decided ones need not be remembered.
        self.state.assessments = {}
        self.state.changes = Changes()
        return rows


def copy_record(row: LogRow) -> tuple[Any, ...]:
    return (
        row.position,
        uuid.UUID(row.event_id),
        row.stream,
        row.stream_version,
        row.type,
        SCHEMA_VERSION,
        row.data_json.decode(),
        row.metadata_json.decode(),
        row.recorded_at,
        row.hash,
        row.bucket,
    )


async def log_head(conn: asyncpg.Connection) -> tuple[int, bytes, dt.datetime]:
    row = await conn.fetchrow(
        "SELECT position, hash, recorded_at FROM ledger.events ORDER BY position DESC LIMIT 1"
    )
    if row is None:
        raise RuntimeError("the log is empty: the catalog should have been appended first")
    return int(row["position"]), bytes(row["hash"]), row["recorded_at"]


async def ledger_state(database_url: str, candidates: list[Candidate]) -> WriteState:
    """The write state a group commit of ``candidates`` would load, over the ledger's own
    kind of connection (its role and JSON codecs)."""
    pool = await db.create_pool(database_url, 1)
    try:
        async with pool.acquire() as ledger_conn:
            return await load_state(ledger_conn, candidates)
    finally:
        await pool.close()


async def append_passes(
    conn: asyncpg.Connection,
    database_url: str,
    *,
    events: int,
    learners: int,
    key_ids: dict[str, str],
    seed: int,
    progress: Callable[[int], None],
) -> float:
    """COPY ``events`` passes after the head (the next batch decided while one is copied);
    returns the seconds it took."""
    head, head_hash, head_at = await log_head(conn)
    source = PassCandidates(
        learners=learners, key_ids=key_ids, today=head_at.astimezone(dt.UTC).date(), seed=seed
    )
    state = await ledger_state(database_url, source.every_offer())
    # recorded_at runs from the catalog's to now: live appends (clock now) come after.
    last_at = max(head_at, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    writer = LogWriter(state, head, head_hash, head_at, last_at - head_at, events)

    def batch(count: int) -> list[tuple[Any, ...]]:
        return [copy_record(r) for r in writer.rows([source.next() for _ in range(count)])]

    started = time.perf_counter()
    done = 0
    pending = asyncio.ensure_future(asyncio.to_thread(batch, min(COPY_BATCH, events)))
    while done < events:
        records = await pending
        done += len(records)
        if done < events:
            pending = asyncio.ensure_future(
                asyncio.to_thread(batch, min(COPY_BATCH, events - done))
            )
        await conn.copy_records_to_table(
            "events", schema_name="ledger", columns=EVENT_COLUMNS, records=records
        )
        progress(done)
    return time.perf_counter() - started
