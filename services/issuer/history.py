"""What the issuer reads from the ledger, as plain data: a learner's stream, catalog events.

Pure: built from ``RecordedEvent``s the ledger client fetched, folded with the shared core.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from domain.catalog import Catalog, fold_catalog
from domain.credit_bank import CreditBank, fold
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
        return fold(self.learner_id, ((r.event, r.position, r.recorded_at) for r in self.events))


def learner_history(learner_id: str, rows: Iterable[RecordedEvent]) -> LearnerHistory:
    return LearnerHistory(learner_id, tuple(recorded(row) for row in rows))


def catalog_of(rows: Iterable[Recorded]) -> Catalog:
    """The catalog from catalog events of any streams, folded in log order."""
    ordered = sorted(rows, key=lambda r: r.position)
    return fold_catalog((r.event, r.position, r.recorded_at) for r in ordered)
