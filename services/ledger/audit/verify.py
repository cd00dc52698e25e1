"""``audit verify``: recompute the whole hash chain, from the database or from an export.

Both sources feed one ``ChainWalk``, which stops at the first position whose stored hash is
not the recomputed one (or that is missing, or unreadable). The database is read inside
one read-only REPEATABLE READ transaction (one snapshot, however long the walk takes) with
``COPY`` in windows of positions, so a mismatch near the start does not read the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.common.db import Conn
from services.ledger.audit.chain import ChainWalk, LogGap, Mismatch
from services.ledger.audit.export_rows import parse_export
from services.ledger.audit.stored_rows import (
    AUDIT_COLUMNS,
    LineSplitter,
    MalformedRow,
    Rows,
    parse_rows,
)

WINDOW_EVENTS = 50_000
FILE_CHUNK_BYTES = 4 * 1024 * 1024

Progress = Callable[[int], object]


@dataclass(frozen=True)
class Finding:
    """The first position that does not hold, and why."""

    position: int
    reason: str
    mismatch: Mismatch | None = None


@dataclass(frozen=True)
class VerifyResult:
    matched: int  # the last position whose hash matched; positions 1..matched all did
    head_hash: str | None  # the chain hash at the head, when every event matched
    finding: Finding | None
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.finding is None


class Verifier:
    """Feeds rows to a ChainWalk until the first finding."""

    def __init__(self, progress: Progress | None = None) -> None:
        self._walk = ChainWalk()
        self._progress = progress
        self._started = time.perf_counter()
        self.finding: Finding | None = None

    @property
    def position(self) -> int:
        return self._walk.position

    def feed(self, rows: Rows) -> None:
        if self.finding is not None:
            return
        start = self._walk.position
        try:
            mismatch = self._walk.until_mismatch(rows)
        except LogGap as gap:
            self.missing(gap.found)
        else:
            if mismatch is not None:
                self.finding = Finding(mismatch.position, _explain(mismatch), mismatch)
            elif rows.error is not None:
                self.finding = Finding(self._walk.position + 1, str(rows.error))
        if self._progress is not None:
            matched = (
                self._walk.position - start - (1 if self.finding and self.finding.mismatch else 0)
            )
            self._progress(matched)

    def missing(self, found: int) -> None:
        """The source has no event right after the walk, but has ``found`` later on."""
        expected = self._walk.position + 1
        self.finding = Finding(expected, f"position {expected} is missing: the next is {found}")

    def result(self) -> VerifyResult:
        finding = self.finding
        return VerifyResult(
            matched=self._walk.position if finding is None else finding.position - 1,
            head_hash=self._walk.recomputed.hex() if finding is None else None,
            finding=finding,
            elapsed_s=time.perf_counter() - self._started,
        )


def _explain(mismatch: Mismatch) -> str:
    where = {
        True: "its stored hash does not follow from the previous stored hash either: "
        "this event's content or hash was changed",
        False: "its stored hash follows from the previous stored hash, so an earlier event "
        "was changed",
        None: "",
    }[mismatch.edited_here]
    detail = f"stored {mismatch.stored_hash}, recomputed {mismatch.recomputed_hash}"
    return f"{detail}; {where}" if where else detail


async def log_head_position(conn: Conn) -> int:
    position: int | None = await conn.fetchval("SELECT max(position) FROM ledger.events")
    return position or 0


async def verify_database(
    conn: Conn, *, progress: Progress | None = None, window_events: int = WINDOW_EVENTS
) -> VerifyResult:
    """Walk ``ledger.events`` in position order; run it inside one read-only snapshot."""
    if window_events < 1:
        raise ValueError("a window holds at least one event")
    verifier = Verifier(progress)
    lines = LineSplitter()

    async def on_chunk(chunk: bytes) -> None:
        verifier.feed(parse_rows(lines.feed(chunk)))

    while verifier.finding is None:
        after = verifier.position
        await conn.copy_from_query(
            f"SELECT {AUDIT_COLUMNS} FROM ledger.events"
            " WHERE position > $1 AND position <= $2 ORDER BY position",
            after,
            after + window_events,
            output=on_chunk,
        )
        if lines.finish():
            raise MalformedRow("the COPY stream ended in the middle of a row")
        if verifier.position == after:
            # Nothing in (after, after + window]: the end of the log, unless rows are missing.
            beyond = await conn.fetchval(
                "SELECT min(position) FROM ledger.events WHERE position > $1", after
            )
            if beyond is not None:
                verifier.missing(beyond)
            break
    return verifier.result()


def verify_export(path: Path, *, progress: Progress | None = None) -> VerifyResult:
    """Walk an NDJSON export that starts at position 1 (``GET /v1/log/ndjson``)."""
    verifier = Verifier(progress)
    lines = LineSplitter()
    with path.open("rb") as export:
        while verifier.finding is None and (chunk := export.read(FILE_CHUNK_BYTES)):
            verifier.feed(parse_export(lines.feed(chunk)))
    verifier.feed(parse_export([lines.finish()]))
    return verifier.result()
