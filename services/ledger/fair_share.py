"""A fair share of the append queue per API key, applied only under contention.

Each process counts the events each key has waiting in its group commit (queued or being
committed). Under contention, when more than one key has events waiting anywhere in the
ledger, a key may have at most its share waiting: ``fair_share_events`` split evenly
among the keys waiting, and never less than one full batch. A request that would take a
key past it gets 429 with ``Retry-After``; the key's waiting events commit meanwhile. A key
that is alone (an importer at night) is never throttled here; the bounded queue still
answers 503 when full.

The limit holds across worker processes: every ``REPORT_INTERVAL_S`` while it has had
work, each process writes its waiting counts to ``ledger.admission`` (an unlogged table:
nothing of it needs to survive a crash) and reads the others'. A process that stopped
reporting drops out after ``STALE_AFTER_S``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Mapping

import asyncpg
import structlog

from services.common.lifecycle import BackgroundLoop, RunsInBackground

log = structlog.get_logger(__name__)

REPORT_INTERVAL_S = 0.1
STALE_AFTER_S = 2.0
RETRY_AFTER_S = 1


class KeyOverShare(Exception):
    """A key is over its fair share while others wait (429 with ``Retry-After``)."""

    def __init__(self, key_id: str, waiting: int, share: int) -> None:
        super().__init__(
            f"key {key_id} has {waiting} events waiting to be committed, over its fair share of"
            f" {share} while other keys wait: retry after {RETRY_AFTER_S} s"
        )
        self.retry_after_s = RETRY_AFTER_S


def share_refused(
    key_id: str,
    events: int,
    here: Mapping[str, int],
    elsewhere: Mapping[str, int],
    *,
    share_events: int,
    min_share: int,
) -> int | None:
    """The share ``key_id`` would exceed by adding ``events``, or None (admitted). Pure."""
    waiting = Counter(elsewhere)
    waiting.update(here)
    contenders = {key for key, count in waiting.items() if count > 0} | {key_id}
    if len(contenders) < 2:
        return None
    share = max(min_share, share_events // len(contenders))
    if waiting[key_id] + events > share:
        return share
    return None


class FairShare(RunsInBackground):
    """The counts of this process, the others' as last read, and the admission rule."""

    def __init__(self, pool: asyncpg.Pool, *, share_events: int, min_share: int) -> None:
        self._pool = pool
        self._share_events = share_events
        self._min_share = min_share
        self._process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.here: Counter[str] = Counter()
        self.elsewhere: dict[str, int] = {}
        self._active_until = 0.0
        self._loop = BackgroundLoop("fair_share", self._report_loop)

    def admit(self, key_id: str, events: int) -> None:
        """Count ``events`` of ``key_id`` as waiting, or raise ``KeyOverShare``."""
        share = share_refused(
            key_id,
            events,
            self.here,
            self.elsewhere,
            share_events=self._share_events,
            min_share=self._min_share,
        )
        if share is not None:
            raise KeyOverShare(key_id, self.here[key_id] + self.elsewhere.get(key_id, 0), share)
        self.here[key_id] += events
        self._active_until = time.monotonic() + STALE_AFTER_S

    def done(self, key_id: str, events: int) -> None:
        """``events`` of ``key_id`` are decided (committed or refused)."""
        self.here[key_id] -= events
        if self.here[key_id] <= 0:
            del self.here[key_id]

    async def _report_loop(self) -> None:
        reported: set[str] = set()
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S)
            if time.monotonic() > self._active_until and not reported and not self.elsewhere:
                continue  # idle here, and nobody else was seen: nothing to tell or learn
            reported = await self._exchange(reported)

    async def _exchange(self, reported: set[str]) -> set[str]:
        """Write this process's counts (dropping keys no longer waiting), read the others'."""
        counts = {key: count for key, count in self.here.items() if count > 0}
        async with self._pool.acquire() as conn, conn.transaction():
            if reported - counts.keys():
                await conn.execute(
                    "DELETE FROM ledger.admission WHERE process = $1 AND key_id <> ALL($2::text[])",
                    self._process,
                    list(counts),
                )
            if counts:
                await conn.execute(
                    "INSERT INTO ledger.admission (process, key_id, waiting, reported_at)"
                    " SELECT $1, k, w, now() FROM unnest($2::text[], $3::int[]) AS u(k, w)"
                    " ON CONFLICT (process, key_id)"
                    " DO UPDATE SET waiting = EXCLUDED.waiting, reported_at = now()",
                    self._process,
                    list(counts),
                    list(counts.values()),
                )
            rows = await conn.fetch(
                "SELECT key_id, sum(waiting)::int AS waiting FROM ledger.admission"
                " WHERE process <> $1 AND reported_at > now() - make_interval(secs => $2)"
                " GROUP BY key_id",
                self._process,
                STALE_AFTER_S,
            )
        self.elsewhere = {row["key_id"]: row["waiting"] for row in rows if row["waiting"] > 0}
        return set(counts)

    async def stop(self) -> None:
        await super().stop()
        try:
            async with self._pool.acquire() as conn:
                await conn.execute("DELETE FROM ledger.admission WHERE process = $1", self._process)
        except (OSError, asyncpg.PostgresError):
            log.warning("fair_share_rows_left", process=self._process)
