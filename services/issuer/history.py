"""What the issuer reads from the ledger, as plain data: a learner's stream, catalog events.

Pure: built from ``RecordedEvent``s the ledger client fetched, folded with the read core
(``domain.replay``) the projector and the auditor's replay answer with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from domain.catalog import Catalog
from domain.credit_bank import CreditBank
from domain.replay import Timed, bank_as_of, catalog_as_of
from proto import events as ev
from proto.envelope import RecordedEvent

LEARNER_STREAM_PREFIX = "learner-"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One event as the log recorded it: where and when."""

    event: ev.Event
    position: int
    recorded_at: dt.datetime
    stream_version: int
    event_id: str

    @property
    def timed(self) -> Timed:
        return (self.event, self.position, self.recorded_at)


def recorded(row: RecordedEvent) -> Recorded:
    return Recorded(
        event=row.data,
        position=row.position,
        recorded_at=row.recorded_at,
        stream_version=row.stream_version,
        event_id=row.event_id,
    )


@dataclass(frozen=True, slots=True)
class LearnerHistory:
    """A learner's whole stream, in stream order (version 1, 2, 3, ...)."""

    learner_id: str
    events: tuple[Recorded, ...]

    def __post_init__(self) -> None:
        for expected, item in enumerate(self.events, start=1):
            # A hole would make every decision below wrong: refuse it loudly.
            if item.stream_version != expected:
                raise ValueError(
                    f"stream learner-{self.learner_id} has version {item.stream_version} "
                    f"where {expected} was expected"
                )

    @property
    def version(self) -> int:
        """The stream version an append must expect (0: the learner has no events)."""
        return len(self.events)

    @property
    def position(self) -> int:
        return self.events[-1].position if self.events else 0

    def bank(self) -> CreditBank:
        """The bank as of the stream's last event."""
        return bank_as_of(self.learner_id, (r.timed for r in self.events))


def learner_history(learner_id: str, rows: Iterable[RecordedEvent]) -> LearnerHistory:
    return LearnerHistory(learner_id, tuple(recorded(row) for row in rows))


def catalog_of(rows: Iterable[Recorded]) -> Catalog:
    """The catalog from catalog events of any streams, folded in log order."""
    return catalog_as_of(r.timed for r in rows)
