"""Answers "what did this learner hold, and towards what, as of position P / time T?" by
replaying the learner's history through the pure read core (``domain.replay``, which the
auditor's replay and the issuer use too). Live answers are the same replay as of the
checkpoint: one piece of code for both.
"""

from __future__ import annotations

import datetime as dt

from domain.decision import Decision
from domain.replay import LearnerAsOf, as_of, decision_as_of, event_time
from services.common.db import Conn
from services.projector import store


async def position_as_of(
    conn: Conn, as_of_position: int | None, as_of_time: dt.datetime | None
) -> int:
    """The position to answer at: given, the last at or before a time, or the checkpoint."""
    applied = await store.checkpoint(conn)
    if as_of_position is not None:
        return min(as_of_position, applied)
    if as_of_time is not None:
        position: int | None = await conn.fetchval(
            "SELECT max(position) FROM projector.events WHERE recorded_at <= $1 AND position <= $2",
            as_of_time,
            applied,
        )
        return position or 0
    return applied


async def replay(
    conn: Conn, learner_id: str, position: int, as_of_time: dt.datetime | None = None
) -> LearnerAsOf:
    return as_of(
        learner_id,
        await store.learner_history(conn, learner_id, position),
        await store.catalog_history(conn, position),
        position,
        as_of_time or event_time(await _recorded_at(conn, position)),
    )


async def decide_one(
    conn: Conn, learner_id: str, code: str, position: int, as_of_time: dt.datetime | None
) -> Decision | None:
    return decision_as_of(
        learner_id,
        await store.learner_history(conn, learner_id, position),
        await store.catalog_history(conn, position),
        code,
        position,
        as_of_time or event_time(await _recorded_at(conn, position)),
    )


async def _recorded_at(conn: Conn, position: int) -> dt.datetime | None:
    """The recorded_at of the event at a position (None before the first)."""
    moment: dt.datetime | None = await conn.fetchval(
        "SELECT recorded_at FROM projector.events WHERE position <= $1 ORDER BY position DESC LIMIT 1",
        position,
    )
    return moment
