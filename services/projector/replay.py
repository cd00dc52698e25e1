"""Answers "what did this learner hold, and towards what, as of position P / time T?" by
replaying the learner's history through the pure core. Live answers are the same replay
as of the checkpoint: one piece of code for both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.bank_summary import BankSummary, summarize
from domain.catalog import fold_catalog
from domain.credit_bank import CreditBank, fold
from domain.decision import Decision
from domain.rules import evaluate
from domain.shelf_life import utc_day
from services.common.db import Conn
from services.projector import store
from services.projector.projection import relevant_decisions


@dataclass(frozen=True)
class Replay:
    learner_id: str
    position: int  # the log position the answer is as of
    at: dt.datetime  # the event time rules and shelf life are judged at
    bank: CreditBank
    summary: BankSummary
    decisions: list[Decision]


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
) -> Replay:
    catalog = fold_catalog(await store.catalog_history(conn, position))
    history = await store.learner_history(conn, learner_id, position)
    bank = fold(learner_id, history)
    at = as_of_time or await _time_at(conn, position)
    decisions = relevant_decisions(catalog, bank, position, at)
    return Replay(learner_id, position, at, bank, summarize(bank, utc_day(at)), decisions)


async def decide_one(
    conn: Conn, learner_id: str, code: str, position: int, as_of_time: dt.datetime | None
) -> Decision | None:
    catalog = fold_catalog(await store.catalog_history(conn, position))
    rule = catalog.rule_in_force(code, position)
    if rule is None:
        return None
    bank = fold(learner_id, await store.learner_history(conn, learner_id, position))
    return evaluate(rule, bank, as_of_time or await _time_at(conn, position))


async def _time_at(conn: Conn, position: int) -> dt.datetime:
    """Event time at a position: the recorded_at of the event there (never the wall clock)."""
    moment: dt.datetime | None = await conn.fetchval(
        "SELECT recorded_at FROM projector.events WHERE position <= $1 ORDER BY position DESC LIMIT 1",
        position,
    )
    return moment or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
