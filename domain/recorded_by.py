"""What one institution recorded of a learner's history (docs/architecture.md §6).

An institution key reads a learner's bank and progress folded from the events its
institution recorded, and nothing else. Every event an institution writes names it
(``institution_id``; the ledger takes it only from that institution's keys), so those are
its events, with one exception to trim: a redemption names the passes it redeems, and an
institution may redeem another's (a learner moving on takes credits with them). Its view
keeps what the redemption did to its own passes; another institution's passes are not in
its view at all, so a redemption naming them would not fold. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from domain.replay import Timed
from proto import events as ev


def recorded_by(history: Iterable[Timed], institution_id: str) -> list[Timed]:
    """The events of ``history`` that ``institution_id`` recorded, each redemption limited
    to the institution's own passes (and left out when it names none of them)."""
    own: list[Timed] = []
    for event, position, recorded_at in history:
        if getattr(event, "institution_id", None) != institution_id:
            continue
        if isinstance(event, ev.CreditsRedeemed):
            passes = [p for p in event.passes if p.institution_id == institution_id]
            if not passes:
                continue
            event = msgspec.structs.replace(event, passes=passes)
        own.append((event, position, recorded_at))
    return own
