"""The in-memory event store passes the event store contract (no servers)."""

from __future__ import annotations

import pytest

from services.ledger.event_store import InMemoryEventStore
from tests.support.event_store_contract import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore()
