"""Everything the ledger's HTTP handlers need, owned by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from litestar.di import NamedDependency

from services.common.settings import Settings
from services.ledger.api_keys import KeyAuthenticator
from services.ledger.append import GroupCommitter
from services.ledger.audit.runtime import AuditRuntime
from services.ledger.event_store import EventStore
from services.ledger.metrics import LedgerMetrics
from services.ledger.passbook_links import PassbookLinks
from services.ledger.relay import Relay
from services.ledger.upload.sessions import UploadSessions


@dataclass
class LedgerRuntime:
    settings: Settings
    pool: asyncpg.Pool
    committer: GroupCommitter
    store: EventStore
    authenticator: KeyAuthenticator
    metrics: LedgerMetrics
    relay: Relay | None
    audit: AuditRuntime
    upload_sessions: UploadSessions
    passbook_links: PassbookLinks


# How handlers ask for the runtime: injected by name ("runtime") from the app's dependencies.
Runtime = NamedDependency[LedgerRuntime]
