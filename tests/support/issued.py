"""Two credentials on a running system, for the page tests: one valid, one revoked."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.issuer import CERTIFICATE, Issuer, holds, pass_modules, revoke_pass
from tests.support.ledger import Ledger
from tests.support.system import System, running_system

HOLDER, REVOKED_HOLDER = "851000000001", "851000000002"


@dataclass
class Issued:
    system: System
    valid: dict[str, Any]
    revoked: dict[str, Any]

    @property
    def ledger(self) -> Ledger:
        return self.system.ledger

    @property
    def issuer(self) -> Issuer:
        return self.system.issuer

    @property
    def issuer_url(self) -> str:
        return str(self.issuer.client.base_url).rstrip("/")

    def path(self, credential: dict[str, Any]) -> str:
        return f"/v1/credentials/{credential['credential_id'].removeprefix('urn:uuid:')}"


@contextlib.asynccontextmanager
async def issued_credentials(
    database_url: str, nats_url: str, key_dir: Path
) -> AsyncIterator[Issued]:
    """The certificate awarded to HOLDER, and the one of REVOKED_HOLDER after a pass it
    stood on was revoked."""
    async with running_system(database_url, nats_url, key_dir) as system:
        await pass_modules(system.ledger, HOLDER)
        passes = await pass_modules(system.ledger, REVOKED_HOLDER)
        [valid] = await system.issuer.wait_for(HOLDER, holds(CERTIFICATE))
        await system.issuer.wait_for(REVOKED_HOLDER, holds(CERTIFICATE))
        await revoke_pass(system.ledger, REVOKED_HOLDER, passes["CNC-FUND"])
        [revoked] = await system.issuer.wait_for(REVOKED_HOLDER, holds(CERTIFICATE, active=False))
        yield Issued(system, valid, revoked)


def names_a_learner(text: str) -> bool:
    return HOLDER in text or REVOKED_HOLDER in text
