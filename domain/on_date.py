"""The second time axis: a learner's standing on a calendar date, as the ledger knows it now.

``as_of_time`` asks what the ledger knew at a moment: only events recorded by then. This
asks instead what the learner held on a day, in the light of everything recorded since:
- the passes assessed on or before the day (a result recorded late, in a batch upload
  weeks after the exam, counts on the day it was earned);
- the awards recorded on or before the day whose every component is among those passes;
- revocations and redemptions as they stand now (a pass revoked since for fraud did not
  count on that day either);
- shelf life and the rules judged at the end of the day, with the rule versions in force
  now.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import msgspec

from domain.credit_bank import CreditBank


def end_of_day(day: dt.date) -> dt.datetime:
    """The last moment of ``day`` in UTC, the time rules and shelf life are judged at."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)


def bank_on_date(bank: CreditBank, day: dt.date) -> CreditBank:
    passes = {key: held for key, held in bank.passes.items() if held.assessed_on <= day}
    awards = {
        award_id: award
        for award_id, award in bank.awards.items()
        if award.recorded_at is not None
        and award.recorded_at.astimezone(dt.UTC).date() <= day
        and all(component in passes for component in award.components)
    }
    return msgspec.structs.replace(
        bank, passes=MappingProxyType(passes), awards=MappingProxyType(awards)
    )
