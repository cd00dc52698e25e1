"""What the issuer does for each message: read, decide with the pure core, write.

- ``award``: a QualificationEligible hint -> re-read, decide, append the award (or record
  why not);
- ``cascade_revocations``: a revoked pass -> re-read, cascade, append the revocations;
- ``issue_credential``: a QualificationAwarded in the log -> sign and store its credential;
- ``revoke_credential``: a QualificationRevoked in the log -> set its status bit.

Each is idempotent: redeliveries, retries and other replicas converge on one award, one
revocation and one credential per award.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import uuid
from dataclasses import dataclass, field

import asyncpg
import structlog

from proto import events as ev
from proto.derived import QualificationEligible
from proto.issuer import (
    BadgeCredentialIssued,
    BadgeCredentialRevoked,
    issued_message_id,
    revoked_message_id,
)
from services.common.ledger_client import LedgerConflict, LedgerError
from services.common.settings import IssuerSettings
from services.issuer import store
from services.issuer.awarding import AppendAward, decide_award
from services.issuer.credentials.achievement import IssuerProfile, build_credential
from services.issuer.credentials.identity import identity_for, learner_hash
from services.issuer.credentials.keys import KeySet
from services.issuer.credentials.status_list import StatusEntry, locate
from services.issuer.credentials.vc_jwt import sign_credential
from services.issuer.ledger_client import IssuerLedgerClient
from services.issuer.metrics import IssuerMetrics
from services.issuer.readers import CatalogReader, HistoryReader
from services.issuer.revocation import cascade

log = structlog.get_logger(__name__)

# Re-read and re-decide at most this often per message when the stream keeps moving.
CONFLICT_RETRIES_MAX = 8
# The ledger's 422 on an award is its core's final word (not satisfied, a wrong field...).
FINAL_REFUSAL_STATUS = 422


class TransientFailure(Exception):
    """Worth another delivery (with backoff)."""


class PermanentFailure(Exception):
    """Another delivery would fail the same way: dead-letter it now."""


@dataclass(frozen=True)
class IssuerContext:
    settings: IssuerSettings
    pool: asyncpg.Pool
    ledger: IssuerLedgerClient
    histories: HistoryReader
    catalogs: CatalogReader
    keys: KeySet
    issuer: IssuerProfile
    metrics: IssuerMetrics
    # Set after a commit that queued outbox messages, so the publisher sends them at once.
    outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def salt(self) -> str:
        salt = self.settings.learner_hash_salt
        if salt is None:
            raise RuntimeError("the issuer needs CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT")
        return salt

    def status_list_url(self, list_id: int) -> str:
        return f"{self.settings.public_url}/v1/status-lists/{list_id}"

    def credential_url(self, credential_id: str) -> str:
        return f"{self.settings.public_url}/v1/credentials/{credential_id}"


def _refused(exc: LedgerError) -> Exception:
    return TransientFailure(str(exc)) if exc.transient else PermanentFailure(str(exc))


# --- awarding ---------------------------------------------------------------------------


async def award(ctx: IssuerContext, message: QualificationEligible, deliveries: int) -> str:
    """Award the qualification if the log still justifies it; returns the outcome."""
    code = message.qualification_code
    for _ in range(CONFLICT_RETRIES_MAX):
        try:
            history = await ctx.histories.learner(message.learner_id)
            decision = decide_award(history, await ctx.catalogs.catalog([code]), code)
        except LedgerError as exc:
            raise _refused(exc) from exc
        if not isinstance(decision, AppendAward):
            await _record(
                ctx,
                message,
                deliveries,
                decision.reason,
                decision.detail,
                decision.award_id,
                decision.decided_at_position,
            )
            ctx.metrics.award_skips.labels(decision.reason).inc()
            return decision.reason
        try:
            result = await ctx.ledger.append(
                decision.event,
                decision.event_id,
                decision.expected_version,
                causation_id=message.message_id,
            )
        except LedgerConflict as conflict:
            # The basis moved (the stream, the rule version, an award already appended):
            # re-read and decide again.
            log.info(
                "award_conflict", learner=message.learner_id, code=code, detail=conflict.detail
            )
            ctx.metrics.award_conflicts.inc()
            continue
        except LedgerError as exc:
            if exc.status != FINAL_REFUSAL_STATUS:
                raise _refused(exc) from exc
            return await _refused_by_ledger(ctx, message, deliveries, decision, exc)
        if ctx.settings.faults.crash_after_award_append and not result.duplicate:
            log.warning("fault_crash_after_award_append", award_id=decision.event_id)
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.metrics.awards_appended.inc()
        detail = f"appended at position {result.position}" + (
            " (already there: a duplicate)" if result.duplicate else ""
        )
        await _record(
            ctx,
            message,
            deliveries,
            "awarded",
            detail,
            decision.event_id,
            decision.event.decided_at_position,
        )
        log.info(
            "award_appended",
            award_id=decision.event_id,
            code=code,
            generation=decision.event.award_generation,
            position=result.position,
            duplicate=result.duplicate,
        )
        return "awarded"
    raise TransientFailure(f"learner {message.learner_id}'s stream kept moving; will retry")


async def _refused_by_ledger(
    ctx: IssuerContext,
    message: QualificationEligible,
    deliveries: int,
    decision: AppendAward,
    exc: LedgerError,
) -> str:
    """The ledger's core disagrees with ours: final. Record why; never retry it."""
    log.warning(
        "award_refused_by_ledger",
        learner=message.learner_id,
        code=message.qualification_code,
        award_id=decision.event_id,
        refusal=exc.code,
        detail=exc.detail,
    )
    await _record(
        ctx,
        message,
        deliveries,
        "refused_by_ledger",
        f"{exc.code}: {exc.detail}",
        decision.event_id,
        decision.event.decided_at_position,
    )
    ctx.metrics.award_skips.labels("refused_by_ledger").inc()
    return "refused_by_ledger"


async def _record(
    ctx: IssuerContext,
    message: QualificationEligible,
    deliveries: int,
    outcome: str,
    detail: str,
    award_id: str | None,
    position: int,
) -> None:
    async with ctx.pool.acquire() as conn:
        await store.record_decision(
            conn,
            message_id=message.message_id,
            learner_id=message.learner_id,
            qualification_code=message.qualification_code,
            outcome=outcome,
            detail=detail,
            award_id=award_id,
            decided_at_position=position,
            deliveries=deliveries,
        )


# --- revocation -------------------------------------------------------------------------


async def cascade_revocations(ctx: IssuerContext, learner_id: str, causation_id: str) -> int:
    """Revoke every award the learner's history no longer supports; returns how many."""
    for _ in range(CONFLICT_RETRIES_MAX):
        try:
            history = await ctx.histories.learner(learner_id)
            bank = history.bank()
            catalog = await ctx.catalogs.catalog_with(
                (a.qualification_code, a.qualification_version) for a in bank.awards.values()
            )
            revocations = cascade(history, catalog)
            if not revocations:
                return 0
            await ctx.ledger.append_batch(
                [
                    (r.event, r.event_id, history.version + offset)
                    for offset, r in enumerate(revocations)
                ],
                causation_id=causation_id,
            )
        except LedgerConflict as conflict:
            log.info("revocation_conflict", learner=learner_id, detail=conflict.detail)
            continue
        except LedgerError as exc:
            raise _refused(exc) from exc
        ctx.metrics.revocations_appended.inc(len(revocations))
        log.info(
            "awards_revoked",
            learner=learner_id,
            awards=[r.event.award_id for r in revocations],
            codes=[r.event.qualification_code for r in revocations],
        )
        return len(revocations)
    raise TransientFailure(f"learner {learner_id}'s stream kept moving; will retry")


# --- credentials ------------------------------------------------------------------------


async def issue_credential(
    ctx: IssuerContext, award: ev.QualificationAwarded, position: int, recorded_at: dt.datetime
) -> bool:
    """Sign and store the award's credential unless it has one; True if this call did."""
    async with ctx.pool.acquire() as conn:
        if await store.has_credential(conn, award.award_id):
            return False
        entry = locate(await store.next_status_index(conn))
    row = await _signed_credential(ctx, award, position, recorded_at, entry)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.lock_award(conn, award.award_id)
        await store.ensure_status_list(conn, entry.list_id)
        if not await store.insert_credential(conn, row):
            return False  # another replica or delivery signed it first
        await store.queue_issued(
            conn, _issued_message(ctx, row, entry), publish_v1=ctx.settings.publish_v1_messages
        )
        revoked = await store.revoked_award(conn, award.award_id)
        if revoked is not None:
            await _revoke_locked(ctx, conn, row, reason=revoked[0], revoked_at=revoked[1])
    ctx.outbox_wake.set()
    ctx.metrics.credentials_issued.inc()
    ctx.metrics.award_to_credential_seconds.observe(
        max(0.0, dt.datetime.now(dt.UTC).timestamp() - recorded_at.timestamp())
    )
    log.info(
        "credential_issued",
        award_id=award.award_id,
        credential_id=row.credential_id,
        kid=row.key_id,
        status=f"{entry.list_id}#{entry.index}",
    )
    return True


async def _signed_credential(
    ctx: IssuerContext,
    award: ev.QualificationAwarded,
    position: int,
    recorded_at: dt.datetime,
    entry: StatusEntry,
) -> store.CredentialRow:
    """The award's credential, built from the rule version it names and signed."""
    try:
        rule = await ctx.catalogs.definition(award.qualification_code, award.qualification_version)
        named = [*rule.required, *(c for g in rule.electives for c in g.codes)]
        titles, qualifications = await ctx.catalogs.kinds(
            [*named, *(c.micro_credential_code for c in award.components)]
        )
    except LedgerError as exc:
        raise _refused(exc) from exc
    except LookupError as exc:
        raise PermanentFailure(str(exc)) from exc
    credential_uuid = str(uuid.uuid4())
    identity = identity_for(ctx.salt, award.learner_id, award.award_id)
    credential = build_credential(
        credential_id=f"urn:uuid:{credential_uuid}",
        issuer=ctx.issuer,
        award=award,
        awarded_at=recorded_at,
        rule=rule,
        qualification_codes=qualifications,
        titles=titles,
        identity=identity,
        status_list_url=ctx.status_list_url(entry.list_id),
        status=entry,
        nsqf_url=ctx.settings.nsqf_url,
    )
    token, key = sign_credential(credential, ctx.keys)
    return store.CredentialRow(
        credential_id=credential_uuid,
        award_id=award.award_id,
        learner_id=award.learner_id,
        learner_hash=identity.learner_hash,
        qualification_code=award.qualification_code,
        qualification_version=award.qualification_version,
        award_generation=award.award_generation,
        award_position=position,
        status_list_id=entry.list_id,
        status_index=entry.index,
        key_id=ctx.keys.kid(key),
        jwt=token,
        valid_from=recorded_at.replace(microsecond=0),
    )


def _issued_message(
    ctx: IssuerContext, row: store.CredentialRow, entry: StatusEntry
) -> BadgeCredentialIssued:
    return BadgeCredentialIssued(
        message_id=issued_message_id(row.award_id),
        credential_id=f"urn:uuid:{row.credential_id}",
        award_id=row.award_id,
        learner_id=row.learner_id,
        learner_hash=row.learner_hash,
        qualification_code=row.qualification_code,
        qualification_version=row.qualification_version,
        award_generation=row.award_generation,
        credential_url=ctx.credential_url(row.credential_id),
        status_list_url=ctx.status_list_url(entry.list_id),
        status_list_index=entry.index,
        key_id=row.key_id,
        valid_from=row.valid_from,
        issued_at=dt.datetime.now(dt.UTC),
    )


async def revoke_credential(
    ctx: IssuerContext, event: ev.QualificationRevoked, position: int, recorded_at: dt.datetime
) -> bool:
    """Set the status bit of the revoked award's credential; True if this call did."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.lock_award(conn, event.award_id)
        await store.remember_revoked_award(
            conn, event.award_id, event.reason, recorded_at, position
        )
        row = await store.credential_for_update(conn, event.award_id)
        if row is None or row.revoked_at is not None:
            return False  # signed later (born revoked), or revoked already
        await _revoke_locked(ctx, conn, row, reason=event.reason, revoked_at=recorded_at)
    ctx.outbox_wake.set()
    log.info("credential_revoked", award_id=event.award_id, credential_id=row.credential_id)
    return True


async def _revoke_locked(
    ctx: IssuerContext,
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    row: store.CredentialRow,
    *,
    reason: str,
    revoked_at: dt.datetime,
) -> None:
    await store.set_status_bit(conn, row.status_list_id, row.status_index)
    await store.mark_revoked(conn, row.award_id, reason, revoked_at)
    await store.queue_revoked(
        conn,
        BadgeCredentialRevoked(
            message_id=revoked_message_id(row.award_id),
            credential_id=f"urn:uuid:{row.credential_id}",
            award_id=row.award_id,
            learner_id=row.learner_id,
            learner_hash=row.learner_hash or learner_hash(ctx.salt, row.learner_id),
            qualification_code=row.qualification_code,
            status_list_url=ctx.status_list_url(row.status_list_id),
            status_list_index=row.status_index,
            reason=reason[:1000],
            revoked_at=revoked_at,
        ),
        publish_v1=ctx.settings.publish_v1_messages,
    )
    ctx.metrics.credentials_revoked.inc()
