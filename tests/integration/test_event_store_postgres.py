"""The PostgreSQL event store passes the same contract as its in-memory twin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.common import db
from services.ledger.append import GroupCommitter
from services.ledger.event_store import PostgresEventStore
from services.ledger.metrics import LedgerMetrics
from tests.support.event_store_contract import EventStoreContract

pytestmark = pytest.mark.integration


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, database_url: str) -> AsyncIterator[PostgresEventStore]:
        pool = await db.create_pool(database_url, 4)
        committer = GroupCommitter(
            pool,
            learner_id_pattern=r"^[0-9]{12}$",
            events_max=1000,
            wait_ms=1.0,
            queue_max=1000,
            metrics=LedgerMetrics(),
        )
        committer.start()
        try:
            yield PostgresEventStore(pool, committer)
        finally:
            await committer.stop()
            await pool.close()
