"""Reconciliation from the ledger: what the consumers missed, found by reading the log.

The issuer's consumers are filtered and shared by every replica, so none of them can see a
hole in the positions it receives (the projector can, and reads it back). A message lost
by JetStream (a purge, a stream lost with its server, a message dead-lettered and
forgotten), or never published while the relay was down for long, would leave an award
without its credential or a revocation without its status bit. Reconciliation closes that
gap from the truth:

- at start and then every ``reconcile_interval_s``, one replica at a time (a session
  advisory lock; the others skip the pass) reads GET /v1/log with the issuer's ledger key,
  only the types below, in bounded pages, from the checkpoint in
  ``issuer.reconcile_checkpoint`` up to the head read when the pass began;
- every ``QualificationAwarded`` has its credential (``handlers.issue_credential``);
- every ``QualificationRevoked`` has set its status bit (``handlers.revoke_credential``);
- every ``AssessmentRevoked`` / ``CredentialRevoked`` has had its cascade
  (``handlers.cascade_revocations``: the learner's awards that no longer hold are revoked;
  their ``QualificationRevoked`` is then reconciled like any other);
- events younger than ``reconcile_grace_s`` are left to the consumers (the checkpoint
  stops before the first of them), so a message on its way is not "repaired".

Every handler is idempotent, so a pass that races a consumer, or a replica that took over
a pass, changes nothing twice. Each repair is logged (``issuer_reconcile_*``) and counted in
``issuer_reconcile_repairs_total{kind}``. A permanent failure (e.g. a rule the ledger no
longer holds) is logged and counted in ``issuer_reconcile_failures_total`` and passed over,
as the consumers dead-letter it; any other failure ends the pass where it stood, and the
supervisor runs it again after a backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass

import structlog

from proto import events as ev
from proto.envelope import RecordedEvent
from services.common.db import Conn
from services.common.lifecycle import BackgroundLoop, RunsInBackground
from services.issuer import handlers
from services.issuer.handlers import IssuerContext, PermanentFailure

log = structlog.get_logger(__name__)

# Any fixed 64-bit number ("ISSRECON"): one reconciling replica at a time.
RECONCILE_LOCK_KEY = 0x4953535245434F4E
PAGE_EVENTS = 500
RECONCILED_TYPES = (
    "QualificationAwarded",
    "QualificationRevoked",
    "AssessmentRevoked",
    "CredentialRevoked",
)


@dataclass
class PassReport:
    """What one pass read and repaired."""

    from_position: int
    to_position: int = 0
    events: int = 0
    credentials_issued: int = 0
    status_bits_set: int = 0
    awards_revoked: int = 0
    failed: int = 0

    @property
    def repaired(self) -> int:
        return self.credentials_issued + self.status_bits_set + self.awards_revoked


async def read_checkpoint(conn: Conn) -> int:
    position = await conn.fetchval("SELECT position FROM issuer.reconcile_checkpoint")
    return int(position or 0)


async def _save_checkpoint(conn: Conn, position: int) -> None:
    await conn.execute(
        "UPDATE issuer.reconcile_checkpoint"
        " SET position = GREATEST(position, $1), updated_at = now()",
        position,
    )


async def _credential_states(conn: Conn, award_ids: list[str]) -> dict[str, bool]:
    """award id -> whether its credential is revoked, for the awards that have one."""
    ids = []
    for award_id in award_ids:
        try:
            ids.append(uuid.UUID(award_id))
        except ValueError:
            continue  # the handler will say what is wrong with it
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT award_id::text AS award_id, revoked_at IS NOT NULL AS revoked"
        " FROM issuer.credentials WHERE award_id = ANY($1::uuid[])",
        ids,
    )
    return {r["award_id"]: bool(r["revoked"]) for r in rows}


async def reconcile_once(ctx: IssuerContext) -> PassReport | None:
    """One pass from the checkpoint to the head; None when another replica holds it."""
    async with ctx.pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RECONCILE_LOCK_KEY):
            ctx.metrics.reconcile_passes.labels("busy").inc()
            return None
        try:
            report = await _pass(ctx, conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RECONCILE_LOCK_KEY)
    ctx.metrics.reconcile_passes.labels("done").inc()
    (log.info if report.repaired or report.failed else log.debug)(
        "issuer_reconciled",
        from_position=report.from_position,
        to_position=report.to_position,
        events=report.events,
        credentials_issued=report.credentials_issued,
        status_bits_set=report.status_bits_set,
        awards_revoked=report.awards_revoked,
        failed=report.failed,
    )
    return report


async def _pass(ctx: IssuerContext, conn: Conn) -> PassReport:
    after = await read_checkpoint(conn)
    report = PassReport(from_position=after, to_position=after)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ctx.settings.reconcile_grace_s)
    target: int | None = None
    try:
        while target is None or after < target:
            page = await ctx.ledger.log_page(after, PAGE_EVENTS, RECONCILED_TYPES)
            if target is None:
                target = page.head_position
            young = next((e for e in page.events if e.recorded_at > cutoff), None)
            settled = [e for e in page.events if young is None or e.position < young.position]
            await _reconcile_page(ctx, conn, settled, report)
            if young is not None:
                after = young.position - 1
                break
            if page.next_after_position <= after:
                break  # the head is behind the checkpoint (nothing to read)
            after = page.next_after_position
            report.to_position = after
            await _save_checkpoint(conn, after)
            ctx.metrics.reconcile_checkpoint.set(after)
    finally:
        # Up to the last event handled, even when a failure ends the pass.
        after = max(after, report.to_position)
        report.to_position = after
        await _save_checkpoint(conn, after)
        ctx.metrics.reconcile_checkpoint.set(await read_checkpoint(conn))
    return report


async def _reconcile_page(
    ctx: IssuerContext, conn: Conn, events: list[RecordedEvent], report: PassReport
) -> None:
    award_ids = [
        e.data.award_id
        for e in events
        if isinstance(e.data, ev.QualificationAwarded | ev.QualificationRevoked)
    ]
    revoked_by_award = await _credential_states(conn, award_ids)
    cascaded: set[str] = set()
    for event in events:
        try:
            await _reconcile_event(ctx, event, revoked_by_award, cascaded, report)
        except PermanentFailure as exc:
            report.failed += 1
            ctx.metrics.reconcile_failures.labels(event.type).inc()
            log.error(
                "issuer_reconcile_gave_up",
                event_type=event.type,
                event_id=event.event_id,
                position=event.position,
                error=str(exc)[:500],
            )
        report.events += 1
        report.to_position = event.position


async def _reconcile_event(
    ctx: IssuerContext,
    event: RecordedEvent,
    revoked_by_award: dict[str, bool],
    cascaded: set[str],
    report: PassReport,
) -> None:
    metrics = ctx.metrics
    match event.data:
        case ev.QualificationAwarded() as award if award.award_id not in revoked_by_award:
            if await handlers.issue_credential(ctx, award, event.position, event.recorded_at):
                report.credentials_issued += 1
                metrics.reconcile_repairs.labels("credential_issued").inc()
                log.warning(
                    "issuer_reconcile_credential_issued",
                    award_id=award.award_id,
                    code=award.qualification_code,
                    position=event.position,
                )
        case ev.QualificationRevoked() as revoked if not revoked_by_award.get(revoked.award_id):
            if await handlers.revoke_credential(ctx, revoked, event.position, event.recorded_at):
                report.status_bits_set += 1
                metrics.reconcile_repairs.labels("status_bit_set").inc()
                log.warning(
                    "issuer_reconcile_status_bit_set",
                    award_id=revoked.award_id,
                    code=revoked.qualification_code,
                    position=event.position,
                )
        case ev.AssessmentRevoked(learner_id=learner) | ev.CredentialRevoked(learner_id=learner):
            if learner in cascaded:
                return  # one cascade per learner and page: it reads the whole history
            cascaded.add(learner)
            count = await handlers.cascade_revocations(ctx, learner, event.event_id)
            if count:
                report.awards_revoked += count
                metrics.reconcile_repairs.labels("award_revoked").inc(count)
                log.warning(
                    "issuer_reconcile_awards_revoked",
                    learner=learner,
                    count=count,
                    position=event.position,
                )


class Reconciler(RunsInBackground):
    """The reconciliation loop, supervised: a pass at start, then one every interval."""

    name = "issuer-reconcile"

    def __init__(self, ctx: IssuerContext) -> None:
        self._ctx = ctx
        self._loop = BackgroundLoop(
            "issuer_reconcile", self._reconcile_for_ever, after_each=self._failed
        )
        # Shown by /ready next to the consumers: true once a pass succeeded, false while
        # the loop is failing (and backing off).
        self.consuming = False
        self.last_pass_monotonic: float | None = None

    def _failed(self) -> None:
        self.consuming = False

    async def _reconcile_for_ever(self) -> None:
        while True:
            await reconcile_once(self._ctx)
            self.consuming = True
            self.last_pass_monotonic = time.monotonic()
            await asyncio.sleep(self._ctx.settings.reconcile_interval_s)
