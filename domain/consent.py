"""Consent the learner controls (pure): which institutions a learner's grants let read
their whole credit bank on a given day.

A grant (``ConsentGranted``) is in force from its recording until the end of its
``valid_until`` day (UTC), if it has one, or until the learner withdraws it
(``ConsentWithdrawn``). Only the learner records either (the ledger checks it), so the
fold trusts the order of the learner's stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from proto import events as ev


@dataclass(frozen=True)
class Grant:
    grant_id: str
    grantee_institution_id: str
    valid_until: dt.date | None
    position: int
    withdrawn_at: int | None = None  # the withdrawal's log position

    def in_force(self, day: dt.date) -> bool:
        return self.withdrawn_at is None and (self.valid_until is None or day <= self.valid_until)


def grants_of(events: Iterable[tuple[ev.Event, int]]) -> list[Grant]:
    """Every grant of the learner's consent events (with their positions), oldest first."""
    grants: dict[str, Grant] = {}
    for event, position in events:
        if isinstance(event, ev.ConsentGranted):
            grants[event.grant_id] = Grant(
                event.grant_id, event.grantee_institution_id, event.valid_until, position
            )
        elif isinstance(event, ev.ConsentWithdrawn) and event.grant_id in grants:
            grant = grants[event.grant_id]
            grants[event.grant_id] = Grant(
                grant.grant_id,
                grant.grantee_institution_id,
                grant.valid_until,
                grant.position,
                position,
            )
    return list(grants.values())


def may_read_whole_bank(grants: Iterable[Grant], institution_id: str, day: dt.date) -> bool:
    return any(g.grantee_institution_id == institution_id and g.in_force(day) for g in grants)
