"""Answers "what did this learner hold, and towards what, as of position P / time T?" by
replaying the learner's history through the pure read core (``domain.replay``, which the
auditor's replay and the issuer use too). Live answers are the same replay as of the
checkpoint of the learner's partition: one piece of code for both.

The projector's copy of the log holds the catalog and each partition's own learners'
events, not every position: when an answer needs the time of a position that is another
partition's, it asks the ledger, so answers are the same whatever the layout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

from domain.decision import Decision
from domain.replay import (
    LearnerAsOf,
    as_of,
    as_on_date,
    decision_as_of,
    decision_on_date,
    event_time,
)
from proto.partitions import Partition
from services.common.cache import BoundedCache
from services.common.db import Conn
from services.common.ledger_client import LedgerClient
from services.projector import store
from services.projector.store import History

RECORDED_AT_CACHE_POSITIONS = 4096


class LogTimes:
    """When each log position was recorded: from the projector's copy where it holds the
    position, else from the ledger (remembered, since a position's time never changes)."""

    def __init__(self, ledger: LedgerClient) -> None:
        self._ledger = ledger
        self._asked: BoundedCache[int, dt.datetime] = BoundedCache(RECORDED_AT_CACHE_POSITIONS)

    async def recorded_at(self, conn: Conn, position: int) -> dt.datetime | None:
        """None before the first event."""
        if position <= 0:
            return None
        moment: dt.datetime | None = await conn.fetchval(
            "SELECT recorded_at FROM projector.events WHERE position = $1", position
        )
        if moment is None:
            moment = self._asked.get(position)
        if moment is None:
            event = await self._ledger.event_at(position)
            if event is None:
                raise LookupError(f"the ledger has no event at position {position}")
            moment = event.recorded_at
            self._asked.put(position, moment)
        return moment

    async def position_at(self, conn: Conn, moment: dt.datetime, up_to: int) -> int:
        """The last position up to ``up_to`` recorded at or before ``moment`` (0 if none).

        The copy's last such position is a lower bound; the positions after it that the
        copy lacks are searched by halves (recorded_at never runs backwards along the log)."""
        local: int | None = await conn.fetchval(
            "SELECT max(position) FROM projector.events WHERE recorded_at <= $1 AND position <= $2",
            moment,
            up_to,
        )
        low, high = local or 0, up_to
        if low < high:
            # Mostly the next position is already later: one look instead of a search.
            following = await self.recorded_at(conn, low + 1)
            if following is None or following > moment:
                return low
        while low < high:
            middle = (low + high + 1) // 2
            recorded = await self.recorded_at(conn, middle)
            if recorded is not None and recorded <= moment:
                low = middle
            else:
                high = middle - 1
        return low


# How long a read as of a position the projector has not applied yet waits for it.
APPLIED_WAIT_S = 2.0
APPLIED_POLL_S = 0.05


class PastTheHead(ValueError):
    """A position the ledger has not reached (an invalid parameter, never clamped)."""


class NotYetProjected(RuntimeError):
    """A position the ledger holds and the partition has not applied within the wait."""


async def position_as_of(
    conn: Conn,
    times: LogTimes,
    partition: Partition,
    as_of_position: int | None,
    as_of_time: dt.datetime | None,
    head: Callable[[], Awaitable[int]] | None = None,
) -> int:
    """The position to answer at: given, the last at or before a time, or the checkpoint.
    A given position past the checkpoint is waited for (``APPLIED_WAIT_S``), then refused
    with ``NotYetProjected``, and one past the ledger's ``head`` with ``PastTheHead``:
    never answered as of an earlier position than asked."""
    applied = await store.checkpoint(conn, partition)
    if as_of_position is not None:
        if as_of_position <= applied:
            return as_of_position
        if head is not None and as_of_position > (reached := await head()):
            raise PastTheHead(
                f"as_of_position {as_of_position} is past the ledger's head ({reached})"
            )
        deadline = time.monotonic() + APPLIED_WAIT_S
        while time.monotonic() < deadline:
            await asyncio.sleep(APPLIED_POLL_S)
            applied = await store.checkpoint(conn, partition)
            if as_of_position <= applied:
                return as_of_position
        raise NotYetProjected(
            f"position {as_of_position} is not projected yet (partition {partition} is at"
            f" {applied})"
        )
    if as_of_time is not None:
        return await times.position_at(conn, as_of_time, applied)
    return applied


async def replay(
    conn: Conn,
    times: LogTimes,
    learner_id: str,
    position: int,
    as_of_time: dt.datetime | None = None,
    recorded_by: str | None = None,
    on_date: dt.date | None = None,
) -> LearnerAsOf:
    """With ``recorded_by``, folded from only the events that institution recorded; with
    ``on_date``, the learner's standing on that day (``domain.on_date``)."""
    history = await store.learner_history(conn, learner_id, position, recorded_by)
    catalog = await store.catalog_history(conn, position)
    if on_date is not None:
        return as_on_date(learner_id, history, catalog, position, on_date)
    return as_of(
        learner_id,
        history,
        catalog,
        position,
        as_of_time or event_time(await times.recorded_at(conn, position)),
    )


class NothingRecorded(LookupError):
    """The institution a view is scoped to recorded nothing of the learner's up to the
    position (readers answer "not found", as for a learner nobody knows)."""


async def decide_one(
    conn: Conn,
    times: LogTimes,
    learner_id: str,
    code: str,
    position: int,
    as_of_time: dt.datetime | None,
    recorded_by: str | None = None,
    on_date: dt.date | None = None,
) -> Decision | None:
    """One qualification's decision (None: no version of its rule in force); with
    ``recorded_by``, folded from what that institution recorded (``NothingRecorded`` when
    that is nothing)."""
    history = await store.learner_history(conn, learner_id, position, recorded_by)
    if recorded_by is not None and not history:
        raise NothingRecorded(learner_id)
    if on_date is not None:
        catalog = await store.catalog_history(conn, position)
        return decision_on_date(learner_id, history, catalog, code, position, on_date)
    return decision_as_of(
        learner_id,
        history,
        await store.catalog_history(conn, position),
        code,
        position,
        as_of_time or event_time(await times.recorded_at(conn, position)),
    )


async def satisfied_on_own_events(
    conn: Conn,
    times: LogTimes,
    learners: list[str],
    partition_of: Callable[[str], Partition],
    code: str,
    institution_id: str,
) -> list[str]:
    """Those of ``learners`` whose events recorded by the institution alone satisfy the
    rule, each judged as of its partition's checkpoint. The checkpoint, the catalog and the
    judging time are read once per partition, not once per learner."""
    judged_at: dict[Partition, tuple[int, History, dt.datetime]] = {}
    satisfied = []
    for learner in learners:
        partition = partition_of(learner)
        if partition not in judged_at:
            position = await position_as_of(conn, times, partition, None, None)
            judged_at[partition] = (
                position,
                await store.catalog_history(conn, position),
                event_time(await times.recorded_at(conn, position)),
            )
        position, catalog, at = judged_at[partition]
        history = await store.learner_history(conn, learner, position, institution_id)
        decision = decision_as_of(learner, history, catalog, code, position, at)
        if history and decision is not None and decision.satisfied:
            satisfied.append(learner)
    return satisfied
