"""One event as the projector receives it, from JetStream or from the ledger's read API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from proto.envelope import RecordedEvent
from proto.events import Event, decode_event
from proto.partitions import stream_bucket
from services.common.messaging import decode_ledger_headers

LEARNER_PREFIX = "learner-"


@dataclass(frozen=True, slots=True)
class LogEntry:
    position: int
    stream: str
    # The event's version in its stream: a partition's positions are not contiguous, so a
    # lost message shows as a skipped version of its stream.
    stream_version: int
    event: Event
    data_json: bytes
    recorded_at: dt.datetime

    @property
    def type(self) -> str:
        return type(self.event).__name__

    @property
    def learner_id(self) -> str | None:
        return learner_of(self.stream)

    @property
    def bucket(self) -> int | None:
        return stream_bucket(self.stream)

    @property
    def institution_id(self) -> str | None:
        """The institution the event names (its ``institution_id``), if any."""
        named: str | None = getattr(self.event, "institution_id", None)
        return named


def bank_stream(learner_id: str) -> str:
    return LEARNER_PREFIX + learner_id


def learner_of(stream: str) -> str | None:
    """The learner a stream belongs to; None for catalog and institution streams."""
    return stream.removeprefix(LEARNER_PREFIX) if stream.startswith(LEARNER_PREFIX) else None


def from_recorded(recorded: RecordedEvent) -> LogEntry:
    return LogEntry(
        position=recorded.position,
        stream=recorded.stream,
        stream_version=recorded.stream_version,
        event=recorded.data,
        data_json=msgspec.json.encode(recorded.data),
        recorded_at=recorded.recorded_at,
    )


def from_message(payload: bytes, headers: Mapping[str, str] | None) -> LogEntry:
    """A LEDGER stream message: CloudEvents headers plus the event's data as the body."""
    said = decode_ledger_headers(headers)
    return LogEntry(
        position=said.position,
        stream=said.stream,
        stream_version=said.stream_version,
        event=decode_event(payload),
        data_json=payload,
        recorded_at=said.recorded_at,
    )
