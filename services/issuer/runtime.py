"""Everything the issuer's handlers need, owned by its lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar.di import NamedDependency

from services.common.http.auth import KeyCache
from services.issuer.handlers import IssuerContext
from services.issuer.passbook.reads import PassbookReads
from services.issuer.workers import BackgroundWorker


@dataclass
class IssuerRuntime:
    ctx: IssuerContext
    key_cache: KeyCache
    # The passbook's reads, each with the learner's own link (services/issuer/passbook).
    passbook: PassbookReads
    # The consumers and the reconciliation (services/issuer/workers.py).
    workers: list[BackgroundWorker] = field(default_factory=list)
    # Signed status list credentials by (list id, list version, signing kid).
    status_list_jwts: dict[tuple[int, int, str], str] = field(default_factory=dict)

    @property
    def did(self) -> str:
        return self.ctx.issuer.id


Runtime = NamedDependency[IssuerRuntime]
