"""An uploaded file's rows into the log, through the same group commit as the HTTP API.

Rows go in chunks of at most ``CREDIT_LEDGER_BATCH_EVENTS_MAX``, each chunk non-atomic: one
refused row never holds back the good ones, and each row gets its own outcome. A chunk the
ledger is too busy for (a full queue, or the key over its fair share) waits and is sent
again, so an upload obeys the same per-key limits as the batch API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from proto.csv_rows import ParsedRow, RowOutcome
from proto.envelope import Actor, AppendResult
from proto.events import stream_of
from services.ledger.append import LedgerBusy
from services.ledger.event_store import EventStore
from services.ledger.fair_share import KeyOverShare
from services.ledger.group import Outcome
from services.ledger.write_model import Candidate

BUSY_RETRIES = 30
BUSY_WAIT_S = 1.0


async def record_rows(
    store: EventStore,
    rows: Sequence[ParsedRow],
    actor: Actor,
    request_id: str,
    chunk_rows: int,
) -> list[RowOutcome]:
    """Each row's outcome, in the order of ``rows``."""
    outcomes: list[RowOutcome] = []
    for start in range(0, len(rows), chunk_rows):
        chunk = rows[start : start + chunk_rows]
        candidates = [
            Candidate(
                event_id=str(row.event_id),
                event=row.event,
                stream=stream_of(row.event),
                expected_version=None,
                actor=actor,
                request_id=request_id,
            )
            for row in chunk
        ]
        results = await _append_when_admitted(store, candidates)
        if results is None:
            outcomes += [
                RowOutcome(
                    row.row,
                    "refused",
                    code="ledger_busy",
                    message="the ledger stayed too busy for this row; upload the file again",
                )
                for row in rows[start:]
            ]
            break
        outcomes += [_outcome_of(row, result) for row, result in zip(chunk, results, strict=True)]
    return outcomes


async def _append_when_admitted(
    store: EventStore, candidates: list[Candidate]
) -> list[Outcome] | None:
    for _ in range(BUSY_RETRIES):
        try:
            return await store.append(candidates, atomic=False)
        except KeyOverShare as busy:
            await asyncio.sleep(busy.retry_after_s)
        except LedgerBusy:
            await asyncio.sleep(BUSY_WAIT_S)
    return None


def _outcome_of(row: ParsedRow, result: Outcome) -> RowOutcome:
    if isinstance(result, AppendResult):
        return RowOutcome(row.row, "duplicate" if result.duplicate else "recorded", result.position)
    outcome = "conflict" if result.code == "event_id_conflict" else "refused"
    return RowOutcome(row.row, outcome, code=result.code, message=result.detail)
