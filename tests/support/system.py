"""The three services on real ports, on one database and one nats-server: the ledger
(with the demo catalog), the projector and the issuer, for tests that follow a learner
through all of them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.issuer import Issuer, running_issuer
from tests.support.ledger import Ledger, served_ledger
from tests.support.projector import Projector, running_projector


@dataclass(frozen=True)
class System:
    ledger: Ledger
    projector: Projector
    issuer: Issuer


@contextlib.asynccontextmanager
async def running_system(
    database_url: str, nats_url: str, key_dir: Path, **ledger_overrides: str
) -> AsyncIterator[System]:
    """``ledger_overrides`` are the ledger's settings (``CREDIT_LEDGER_*``); the issuer
    keeps its signing keys in ``key_dir``."""
    async with (
        served_ledger(database_url, nats_url, catalog=True, **ledger_overrides) as ledger,
        running_projector(ledger, database_url, nats_url) as projector,
        running_issuer(
            ledger,
            database_url,
            nats_url,
            key_dir,
            CREDIT_LEDGER_PROJECTOR_URL=str(projector.client.base_url).rstrip("/"),
        ) as issuer,
    ):
        yield System(ledger, projector, issuer)
