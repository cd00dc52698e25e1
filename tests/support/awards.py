"""Genuine awards for tests: what the shared core justifies from the ledger's own streams.

The ledger refuses any award its core does not compute itself, so a test that needs an
award in the log asks the core for it, exactly as the issuer does.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.award_check import NoAward, award_for
from domain.catalog import fold_catalog
from domain.credit_bank import fold
from domain.holdings import CreditBank
from proto.envelope import RecordedEvent
from tests.support.ledger import Ledger

_rows = msgspec.json.Decoder(list[RecordedEvent])


async def stream(ledger: Ledger, name: str) -> list[RecordedEvent]:
    body = (await ledger.get(f"/v1/streams/{name}", limit=1000)).json()
    return _rows.decode(msgspec.json.encode(body["events"]))


async def bank_of(ledger: Ledger, learner: str) -> tuple[CreditBank, int]:
    """The learner's bank and stream version, folded from the ledger's stream."""
    rows = await stream(ledger, f"learner-{learner}")
    return fold(learner, ((r.data, r.position, r.recorded_at) for r in rows)), len(rows)


async def genuine_award(
    ledger: Ledger, learner: str, qualification_code: str
) -> tuple[dict[str, Any], int] | NoAward:
    """The award the core justifies now (as JSON) and the stream version it was decided on."""
    rows = await stream(ledger, f"qualification-{qualification_code}")
    catalog = fold_catalog((r.data, r.position, r.recorded_at) for r in rows)
    rule = catalog.current_rule(qualification_code)
    if rule is None:
        raise AssertionError(f"no rule {qualification_code} in the log")
    bank, version = await bank_of(ledger, learner)
    award = award_for(rule, bank)
    if isinstance(award, NoAward):
        return award
    return msgspec.to_builtins(award), version
