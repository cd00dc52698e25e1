"""The audit side of a ledger process: the signing key, the TreeBuilder and their metrics.

Created and started by the ledger's lifespan. Without CREDIT_LEDGER_TREE_SIGNING_KEY_FILE
the tree is still built and proofs are served, but no head is signed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import CollectorRegistry

from services.common.settings import AuditSettings
from services.ledger.audit.head_store import register_key, sign_current_tree
from services.ledger.audit.metrics import AuditMetrics
from services.ledger.audit.node_store import read_state
from services.ledger.audit.schemas import StoredTreeHead
from services.ledger.audit.signing import TreeSigner, load_signer
from services.ledger.audit.tree_builder import TreeBuilder, TreeBuilderConfig

log = structlog.get_logger(__name__)

# How long an on-demand head waits for the builder to cover what was committed before.
CATCH_UP_WAIT_S = 5.0
CATCH_UP_POLL_S = 0.02


class SigningDisabled(RuntimeError):
    """No tree-signing key is configured in this process."""


@dataclass
class AuditRuntime:
    pool: asyncpg.Pool
    signer: TreeSigner | None
    builder: TreeBuilder | None
    metrics: AuditMetrics

    async def register_signing_key(self) -> None:
        """Record the signing key's public half, before the builder signs with it."""
        if self.signer is not None:
            async with self.pool.acquire() as conn:
                await register_key(conn, self.signer)
            log.info("tree_signing_key", key_id=self.signer.key_id)
        else:
            log.warning("tree_signing_disabled", reason="CREDIT_LEDGER_TREE_SIGNING_KEY_FILE unset")

    async def sign_now(self) -> StoredTreeHead:
        """A head over everything committed before the call, if the builder gets there in
        time (it is usually milliseconds behind); otherwise over what it has built."""
        if self.signer is None:
            raise SigningDisabled(
                "no tree-signing key is configured (CREDIT_LEDGER_TREE_SIGNING_KEY_FILE)"
            )
        async with self.pool.acquire() as conn:
            head: int | None = await conn.fetchval("SELECT max(position) FROM ledger.events")
            deadline = time.monotonic() + CATCH_UP_WAIT_S
            # The leading builder may be another process: nothing here could signal progress.
            while (await read_state(conn)).tree_size < (head or 0) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(CATCH_UP_POLL_S)
            signed = await sign_current_tree(conn, self.signer, dt.datetime.now(dt.UTC))
        self.metrics.tree_heads_signed.inc()
        return signed


def create_audit_runtime(
    settings: AuditSettings,
    pool: asyncpg.Pool,
    registry: CollectorRegistry,
    connect_pg: Callable[[], Awaitable[asyncpg.Connection]],
) -> AuditRuntime:
    metrics = AuditMetrics(registry)
    key_file = settings.tree_signing_key_file
    signer = load_signer(key_file) if key_file is not None else None
    builder = None
    if settings.tree_builder_enabled:
        builder = TreeBuilder(
            TreeBuilderConfig(
                batch_max=settings.tree_batch_max,
                head_interval_s=settings.tree_head_interval_s,
                build_interval_s=settings.tree_build_interval_s,
            ),
            signer,
            metrics,
            connect_pg,
        )
    return AuditRuntime(pool=pool, signer=signer, builder=builder, metrics=metrics)
