"""The event store port: what the ledger's HTTP edge needs from a log, whatever keeps it.

``PostgresEventStore`` is the real one (group commit, advisory lock, append-only table);
``InMemoryEventStore`` is its twin for unit tests of the decisions. Both decide through the
same pure ``GroupBuilder`` and ``write_model.decide``, and one contract test class
(tests/unit/test_event_store_contract.py, tests/integration/test_event_store_postgres.py)
runs against each.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import msgspec

from domain.catalog import fold_catalog
from domain.credit_bank import fold
from proto.canonical import GENESIS_HASH
from proto.envelope import EventMetadata, LedgerHead, RecordedEvent
from proto.events import SCHEMA_VERSION, LedgerEvent
from services.ledger import reads
from services.ledger.append import GroupCommitter
from services.ledger.group import GroupBuilder, LogRow, Outcome, not_written, precheck
from services.ledger.write_model import Candidate, Changes, WriteState, judged_keys


class EventStore(Protocol):
    async def append(self, candidates: list[Candidate], *, atomic: bool) -> list[Outcome]: ...

    async def read_log(self, after_position: int, limit: int) -> list[RecordedEvent]: ...

    async def read_stream(
        self, stream: str, after_version: int, limit: int
    ) -> list[RecordedEvent]: ...

    async def head(self) -> LedgerHead: ...


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool, committer: GroupCommitter) -> None:
        self._pool = pool
        self._committer = committer

    async def append(self, candidates: list[Candidate], *, atomic: bool) -> list[Outcome]:
        return await self._committer.submit(candidates, atomic=atomic)

    async def read_log(self, after_position: int, limit: int) -> list[RecordedEvent]:
        return await reads.read_log(self._pool, after_position, limit)

    async def read_stream(self, stream: str, after_version: int, limit: int) -> list[RecordedEvent]:
        return await reads.read_stream(self._pool, stream, after_version, limit)

    async def head(self) -> LedgerHead:
        return await reads.read_head(self._pool)


_data_decoder = msgspec.json.Decoder(LedgerEvent)
_metadata_decoder = msgspec.json.Decoder(EventMetadata)


class InMemoryEventStore:
    """The whole log and write model in memory; every append is one commit group."""

    def __init__(
        self,
        learner_id_pattern: str = r"^[0-9]{12}$",
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._pattern = re.compile(learner_id_pattern)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._rows: list[LogRow] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._state = WriteState()

    async def append(self, candidates: list[Candidate], *, atomic: bool) -> list[Outcome]:
        outcomes = precheck(candidates, self._pattern)
        if atomic and any(o is not None for o in outcomes):
            return [o if o is not None else not_written() for o in outcomes]
        pending = [c for c, o in zip(candidates, outcomes, strict=True) if o is None]
        for candidate in pending:
            self._state.stream_versions.setdefault(
                candidate.stream, self._version_of(candidate.stream)
            )
        self._load_judged(pending)
        last = self._rows[-1] if self._rows else None
        recorded_at = max(self._clock(), last.recorded_at) if last else self._clock()
        builder = GroupBuilder(
            self._state,
            self._by_id,
            last.position if last else 0,
            last.hash if last else GENESIS_HASH,
            recorded_at,
        )
        results = iter(builder.add(pending, atomic=atomic))
        self._state = builder.state
        self._state.changes = Changes()  # nothing to persist: the state is the store
        for row in builder.rows:
            self._rows.append(row)
            self._by_id[row.event_id] = {
                "event_id": row.event_id,
                "position": row.position,
                "stream": row.stream,
                "stream_version": row.stream_version,
                "type": row.type,
                "data": row.data_json.decode(),
                "recorded_at": row.recorded_at,
                "hash": row.hash,
            }
        return [o if o is not None else next(results) for o in outcomes]

    def _load_judged(self, candidates: list[Candidate]) -> None:
        """Banks and rules as ``write_model_store.load_state`` loads them: from the log."""
        learners, codes = judged_keys(candidates)
        self._state.banks = {
            learner: fold(learner, self._triples(f"learner-{learner}")) for learner in learners
        }
        streams = {f"qualification-{code}" for code in codes}
        self._state.catalog = fold_catalog(
            t for stream in sorted(streams) for t in self._triples(stream)
        )
        self._state.catalog_codes = codes

    def _triples(self, stream: str) -> list[tuple[Any, int, dt.datetime]]:
        return [
            (_data_decoder.decode(r.data_json), r.position, r.recorded_at)
            for r in self._rows
            if r.stream == stream
        ]

    def _version_of(self, stream: str) -> int:
        return max((r.stream_version for r in self._rows if r.stream == stream), default=0)

    async def read_log(self, after_position: int, limit: int) -> list[RecordedEvent]:
        return [_recorded(r) for r in self._rows[after_position : after_position + limit]]

    async def read_stream(self, stream: str, after_version: int, limit: int) -> list[RecordedEvent]:
        rows = [r for r in self._rows if r.stream == stream and r.stream_version > after_version]
        return [_recorded(r) for r in rows[:limit]]

    async def head(self) -> LedgerHead:
        if not self._rows:
            return LedgerHead(position=0, hash=GENESIS_HASH.hex())
        return LedgerHead(position=self._rows[-1].position, hash=self._rows[-1].hash.hex())


def _recorded(row: LogRow) -> RecordedEvent:
    return RecordedEvent(
        position=row.position,
        event_id=row.event_id,
        stream=row.stream,
        stream_version=row.stream_version,
        type=row.type,
        schema_version=SCHEMA_VERSION,
        data=_data_decoder.decode(row.data_json),
        metadata=_metadata_decoder.decode(row.metadata_json),
        recorded_at=row.recorded_at,
        hash=row.hash.hex(),
    )
