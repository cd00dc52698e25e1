"""The TreeBuilder: keeps the Merkle tree up with the log and signs periodic tree heads.

One builder is active at a time (a session advisory lock on a dedicated connection, like
the relay); it wakes on the append NOTIFY rather than polling, builds in bounded steps,
and, when a signing key is configured, signs a head every ``head_interval_s`` if the tree
grew. A crash or restart resumes from ``ledger.merkle_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog

from services.common.db import leadership
from services.common.lifecycle import BackgroundLoop, GracefulStop, RunsInBackground
from services.ledger.append import NOTIFY_CHANNEL
from services.ledger.audit.head_store import sign_if_grown
from services.ledger.audit.metrics import AuditMetrics
from services.ledger.audit.signing import TreeSigner
from services.ledger.audit.tree_build import BuildStep, build_step

log = structlog.get_logger(__name__)

TREE_LOCK_KEY = 0x4C45444745525452
# A safety net only: NOTIFY wakes the builder; this bounds the wait if one is lost.
IDLE_RECHECK_S = 2.0
# A step is bounded by batch_max rows, so a leader finishes it well within this.
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class TreeBuilderConfig:
    batch_max: int
    head_interval_s: float
    # Steps start at least this far apart while the tree keeps up: one step per group
    # commit cost PostgreSQL ~0.45 cores at 1,000 events/s in bench.ledger_bench.
    build_interval_s: float = 0.0


class TreeBuilder(RunsInBackground):
    def __init__(
        self,
        config: TreeBuilderConfig,
        signer: TreeSigner | None,
        metrics: AuditMetrics,
        connect_pg: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._config = config
        self._signer = signer
        self._metrics = metrics
        self._connect_pg = connect_pg
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        # Cancelling a step would cancel a query inside a transaction, whose rollback then
        # waits on a connection caught mid-COPY: a shutdown that never ends. So a leader
        # finishes its step and leaves; only what waits is cancelled at once.
        self._loop = BackgroundLoop(
            "tree_builder",
            self._lead_when_possible,
            after_each=self._builder_stopped,
            graceful=GracefulStop(
                ask=self._ask_to_stop, grace_s=STOP_GRACE_S, on_expiry=self._terminate
            ),
        )
        self.is_leader = False
        self.tree_size = 0

    def _ask_to_stop(self) -> bool:
        self._wake.set()
        return not self.is_leader  # waiting for leadership or backing off: nothing half done

    def _terminate(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # fails whatever awaits it, at once

    def _builder_stopped(self) -> None:
        self.is_leader = False
        self._metrics.builder_leader.set(0)

    async def _lead_when_possible(self) -> None:
        async with leadership(self._connect_pg, TREE_LOCK_KEY) as conn:
            self._conn = conn
            self.is_leader = True
            self._metrics.builder_leader.set(1)
            log.info("tree_builder_leader")
            try:
                await self._build_loop(conn)
            finally:
                self._conn = None

    async def _build_loop(self, conn: asyncpg.Connection) -> None:
        wake = self._wake
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        next_head_at = time.monotonic()  # sign as soon as the backlog is built
        while not self._loop.stopping:
            wake.clear()
            started = time.monotonic()
            step = await build_step(conn, self._config.batch_max)
            self._observe(step)
            if step.leaves == self._config.batch_max:
                continue  # more to build: heads wait until the tree has caught up
            if self._signer is not None and time.monotonic() >= next_head_at:
                head = await sign_if_grown(conn, self._signer, dt.datetime.now(dt.UTC))
                next_head_at = time.monotonic() + self._config.head_interval_s
                if head is not None:
                    self._metrics.tree_heads_signed.inc()
                    log.info("tree_head_signed", tree_size=head.tree_size, head_id=head.head_id)
            timeout = IDLE_RECHECK_S
            if self._signer is not None:
                timeout = min(timeout, max(next_head_at - time.monotonic(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            # Gather the appends of the interval into the next step.
            await asyncio.sleep(
                max(0.0, started + self._config.build_interval_s - time.monotonic())
            )

    def _observe(self, step: BuildStep) -> None:
        self.tree_size = step.tree_size
        self._metrics.tree_size.set(step.tree_size)
        if step.mismatch_count:
            self._metrics.chain_mismatches.inc(step.mismatch_count)
            first = step.mismatches[0]
            log.error(
                "chain_mismatch",
                position=first.position,
                stored_hash=first.stored_hash,
                recomputed_hash=first.recomputed_hash,
                mismatches_in_step=step.mismatch_count,
                edited_positions=[m.position for m in step.mismatches if m.edited_here],
            )
