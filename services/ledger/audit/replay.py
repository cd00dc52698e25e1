"""``audit replay``: a learner's credit bank and award decisions at any point of the log.

Rebuilt from the ledger's read API alone, with the read core the projector answers with
(``domain.replay.as_of``: the catalog fold, the credit-bank fold, the relevant rules, the
views), so the answer is the projector's answer at that moment, field for field: same
position, same event time, same shapes (``domain.views.LearnerBank``).

The catalog as of position P is the fold of every ``qualification-<code>`` and
``microcredential-<code>`` stream up to P; the event time at P is the ``recorded_at`` of
event P (never the wall clock), or the time asked for.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from domain.on_date import end_of_day
from domain.replay import Timed, as_of, as_on_date, event_time
from domain.views import LearnerBank
from proto.envelope import RecordedEvent
from services.common.ledger_client import LedgerClient

# A position, a time (what the ledger knew then), or a day (domain.on_date: the standing on
# that day as the ledger knows it now).
AsOf = int | dt.datetime | dt.date | None


@dataclass(frozen=True)
class History:
    """Everything a replay of one learner reads, each list in position order."""

    learner_id: str
    catalog: list[RecordedEvent]
    learner: list[RecordedEvent]


async def load_history(reader: LedgerClient, learner_id: str) -> History:
    qualifications, micro_credentials = await asyncio.gather(
        reader.codes("qualifications"), reader.codes("micro-credentials")
    )
    names = [f"qualification-{code}" for code in qualifications]
    names += [f"microcredential-{code}" for code in micro_credentials]
    catalog_streams, learner = await asyncio.gather(
        asyncio.gather(*(reader.stream(name) for name in names)),
        reader.stream(f"learner-{learner_id}"),
    )
    catalog = sorted((e for events in catalog_streams for e in events), key=lambda e: e.position)
    return History(learner_id, catalog, learner)


async def position_at_time(reader: LedgerClient, moment: dt.datetime, head: int) -> int:
    """The last position recorded at or before ``moment`` (0 if none): a binary search,
    since recorded_at never runs backwards along the log."""
    low, high = 0, head
    while low < high:
        middle = (low + high + 1) // 2
        event = await reader.event_at(middle)
        if event is None:
            raise RuntimeError(f"the ledger has no event at position {middle} (head {head})")
        if event.recorded_at <= moment:
            low = middle
        else:
            high = middle - 1
    return low


async def resolve(reader: LedgerClient, as_of: AsOf) -> tuple[int, dt.datetime]:
    """(position, event time) to answer at, as the projector resolves them (a day: the head,
    and the end of that day)."""
    head = (await reader.head()).position
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise ValueError("a time to replay at needs a time zone, e.g. 2026-03-01T00:00:00Z")
        return await position_at_time(reader, as_of, head), as_of
    if isinstance(as_of, dt.date):
        return head, end_of_day(as_of)
    position = head if as_of is None else as_of
    if position < 0:
        raise ValueError("a position is 0 or more")
    if position > head:
        raise ValueError(f"position {position} is past the ledger's head ({head})")
    event = await reader.event_at(position) if position > 0 else None
    return position, event_time(event.recorded_at if event is not None else None)


def replay(
    history: History, position: int, at: dt.datetime, on_date: dt.date | None = None
) -> LearnerBank | None:
    """The learner's bank and decisions as of ``position``, judged at event time ``at`` (or
    its standing ``on_date``); None when the learner had no events by then (the projector
    answers 404)."""
    learner, catalog = _timed(history.learner), _timed(history.catalog)
    if on_date is not None:
        answer = as_on_date(history.learner_id, learner, catalog, position, on_date)
    else:
        answer = as_of(history.learner_id, learner, catalog, position, at)
    return answer.view() if answer.found else None


def _timed(events: list[RecordedEvent]) -> list[Timed]:
    return [(e.data, e.position, e.recorded_at) for e in events]


async def replay_learner(reader: LedgerClient, learner_id: str, as_of: AsOf) -> LearnerBank | None:
    position, at = await resolve(reader, as_of)
    on_date = as_of if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime) else None
    return replay(await load_history(reader, learner_id), position, at, on_date)
