"""One event as the projector receives it, from JetStream or from the ledger's read API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec

from proto.envelope import RecordedEvent
from proto.events import Event, decode_event

LEARNER_PREFIX = "learner-"


@dataclass(frozen=True, slots=True)
class LogEntry:
    position: int
    stream: str
    event: Event
    data_json: bytes
    recorded_at: dt.datetime

    @property
    def type(self) -> str:
        return type(self.event).__name__

    @property
    def learner_id(self) -> str | None:
        return (
            self.stream.removeprefix(LEARNER_PREFIX)
            if self.stream.startswith(LEARNER_PREFIX)
            else None
        )


def from_recorded(recorded: RecordedEvent) -> LogEntry:
    return LogEntry(
        position=recorded.position,
        stream=recorded.stream,
        event=recorded.data,
        data_json=msgspec.json.encode(recorded.data),
        recorded_at=recorded.recorded_at,
    )


def from_message(payload: bytes, headers: dict[str, str]) -> LogEntry:
    """A LEDGER stream message: CloudEvents headers plus the event's data as the body."""
    return LogEntry(
        position=int(headers["Ledger-Position"]),
        stream=headers["ce-subject"],
        event=decode_event(payload),
        data_json=payload,
        recorded_at=dt.datetime.fromisoformat(headers["ce-time"].replace("Z", "+00:00")),
    )
