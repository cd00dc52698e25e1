"""Decides the candidates of one commit group in order and chains the accepted ones.

Pure: it reads only the ``WriteState`` and the already-recorded events it is given, so
the Postgres group commit and the in-memory event store decide exactly alike.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec

from proto.canonical import canonical_entry_bytes, canonical_json, chain_hash
from proto.envelope import AppendResult, EventMetadata
from proto.events import SCHEMA_VERSION, Event
from proto.partitions import stream_bucket
from services.ledger.errors import Refused, conflict
from services.ledger.write_model import Candidate, WriteState, authorize, check_learner_id, decide

Outcome = AppendResult | Refused
# An already-recorded event as the duplicate check reads it: an asyncpg Record, or a dict
# with the same keys (event_id, position, stream, stream_version, type, data, recorded_at,
# hash) in the in-memory store.
RecordedRow = Any


def precheck(candidates: list[Candidate], learner_pattern: re.Pattern[str]) -> list[Outcome | None]:
    """Refusals that need no state (role, institution, learner id); None where none."""
    outcomes: list[Outcome | None] = [None] * len(candidates)
    for index, candidate in enumerate(candidates):
        try:
            authorize(candidate)
            check_learner_id(candidate.event, learner_pattern)
        except Refused as refusal:
            outcomes[index] = refusal
    return outcomes


class LogRow(NamedTuple):
    """One accepted event, ready to insert: its fields in ``ledger.events``' column order,
    so that a group's columns are one ``zip``."""

    position: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    data_json: bytes
    metadata_json: bytes
    recorded_at: dt.datetime
    hash: bytes
    # The stream's projector bucket, stored beside the row (not part of the chain).
    bucket: int | None


def content_of(event: Event) -> bytes:
    """What the client asked to record, for idempotency comparisons."""
    builtins = msgspec.to_builtins(event)
    builtins.pop("catalog_snapshot", None)
    return msgspec.json.encode(builtins, order="sorted")


# The code of an item refused only because a sibling in its atomic batch was refused.
NOT_WRITTEN_CODE = "batch_refused"


def not_written() -> Refused:
    return Refused(
        409, NOT_WRITTEN_CODE, "not written: another item of this atomic batch was refused"
    )


class GroupBuilder:
    """Decides the candidates of one group in order, chaining the accepted ones."""

    def __init__(
        self,
        state: WriteState,
        existing: Mapping[str, RecordedRow],
        position: int,
        previous_hash: bytes,
        recorded_at: dt.datetime,
    ) -> None:
        self.state = state
        self.existing = existing
        self.position = position
        self.hash = previous_hash
        self.recorded_at = recorded_at
        self.rows: list[LogRow] = []
        self._accepted: dict[str, tuple[Event, AppendResult]] = {}
        self._metadata: dict[tuple[Any, ...], bytes] = {}

    def add(self, candidates: list[Candidate], *, atomic: bool) -> list[Outcome]:
        # ``decide`` never changes the state when it refuses, so a lone candidate needs no
        # private copy; only a multi-event atomic batch must be able to undo its earlier items.
        undoable = atomic and len(candidates) > 1
        state = self.state.fork() if undoable else self.state
        saved = (
            self.position,
            self.hash,
            len(self.rows),
            dict(self._accepted) if undoable else None,
        )
        outcomes: list[Outcome] = []
        for candidate in candidates:
            try:
                outcomes.append(self._decide(state, candidate))
            except Refused as refusal:
                outcomes.append(refusal)
        if atomic:
            if any(isinstance(o, Refused) for o in outcomes):
                self.position, self.hash, kept, accepted = saved
                self._accepted = self._accepted if accepted is None else accepted
                del self.rows[kept:]
                return [o if isinstance(o, Refused) else not_written() for o in outcomes]
            self.state = state
        return outcomes

    def _decide(self, state: WriteState, candidate: Candidate) -> AppendResult:
        duplicate = self._duplicate(candidate)
        if duplicate is not None:
            return duplicate
        position = self.position + 1
        decision = decide(state, candidate, self.recorded_at, position)
        # Encoded once, in canonical form: the stored JSON and the hashed bytes share it.
        data_json = canonical_json(decision.data)
        metadata_json = self._metadata_json(candidate)
        type_name = type(decision.data).__name__
        digest = chain_hash(
            self.hash,
            canonical_entry_bytes(
                position=position,
                event_id=candidate.event_id,
                stream=candidate.stream,
                stream_version=decision.stream_version,
                type=type_name,
                schema_version=SCHEMA_VERSION,
                data_json=data_json,
                metadata_json=metadata_json,
                recorded_at=self.recorded_at,
            ),
        )
        self.position, self.hash = position, digest
        self.rows.append(
            LogRow(
                position=position,
                event_id=candidate.event_id,
                stream=candidate.stream,
                stream_version=decision.stream_version,
                type=type_name,
                data_json=data_json,
                metadata_json=metadata_json,
                recorded_at=self.recorded_at,
                hash=digest,
                bucket=stream_bucket(candidate.stream),
            )
        )
        result = AppendResult(
            event_id=candidate.event_id,
            position=position,
            stream=candidate.stream,
            stream_version=decision.stream_version,
            recorded_at=self.recorded_at,
            hash=digest.hex(),
        )
        self._accepted[candidate.event_id] = (candidate.event, result)
        return result

    def _metadata_json(self, candidate: Candidate) -> bytes:
        """The canonical metadata, shared by the items of one request (same actor, request
        id, correlation and causation)."""
        key = (
            candidate.actor,
            candidate.request_id,
            candidate.correlation_id,
            candidate.causation_id,
        )
        encoded = self._metadata.get(key)
        if encoded is None:
            metadata = EventMetadata(
                actor=candidate.actor,
                request_id=candidate.request_id,
                correlation_id=candidate.correlation_id,
                causation_id=candidate.causation_id,
            )
            encoded = self._metadata[key] = canonical_json(metadata)
        return encoded

    def _duplicate(self, candidate: Candidate) -> AppendResult | None:
        """The earlier result of ``candidate``'s event id (compared by content only when the
        id was seen, which is rare: the content is not encoded otherwise)."""
        earlier = self._accepted.get(candidate.event_id)
        if earlier is not None:
            if content_of(earlier[0]) != content_of(candidate.event):
                raise _id_conflict(candidate.event_id)
            return msgspec.structs.replace(earlier[1], duplicate=True)
        row = self.existing.get(candidate.event_id)
        if row is None:
            return None
        stored = msgspec.json.decode(row["data"])
        stored.pop("catalog_snapshot", None)
        if row["type"] != type(candidate.event).__name__ or msgspec.json.encode(
            stored, order="sorted"
        ) != content_of(candidate.event):
            raise _id_conflict(candidate.event_id)
        return AppendResult(
            event_id=candidate.event_id,
            position=row["position"],
            stream=row["stream"],
            stream_version=row["stream_version"],
            recorded_at=row["recorded_at"],
            hash=bytes(row["hash"]).hex(),
            duplicate=True,
        )


def _id_conflict(event_id: str) -> Refused:
    return conflict(
        f"event {event_id} was already recorded with different content", "event_id_conflict"
    )
