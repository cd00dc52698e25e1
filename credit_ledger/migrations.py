"""Versioned SQL migrations, applied by the tool (never by hand), each exactly once.

Files are ``<service>/migrations/NNNN_name.sql``. An applied migration whose file later
changes is refused: history is fixed, fixes are new migrations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Any fixed 64-bit number: serializes concurrent migrators across processes.
MIGRATION_LOCK_KEY = 0x4C45444745524D47
MIGRATION_PACKAGES = ("services.ledger", "services.projector", "services.issuer")


@dataclass(frozen=True)
class Migration:
    package: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def key(self) -> str:
        return f"{self.package}:{self.version:04d}"


def discover(packages: tuple[str, ...] = MIGRATION_PACKAGES) -> list[Migration]:
    found: list[Migration] = []
    for package in packages:
        folder = resources.files(package) / "migrations"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sql"):
                continue
            number, _, rest = entry.name.partition("_")
            found.append(
                Migration(package, int(number), rest.removesuffix(".sql"), entry.read_text())
            )
    return found


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every pending migration; returns the keys applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS public.credit_ledger_migrations (
                key         text PRIMARY KEY,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {
            r["key"]: r["checksum"]
            for r in await conn.fetch("SELECT key, checksum FROM public.credit_ledger_migrations")
        }
        for migration in discover():
            if migration.key in done:
                if done[migration.key] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.key} changed after it was applied; "
                        "write a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO public.credit_ledger_migrations (key, checksum) VALUES ($1, $2)",
                    migration.key,
                    migration.checksum,
                )
            log.info("migration_applied", migration=migration.key, name=migration.name)
            applied_now.append(migration.key)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now
