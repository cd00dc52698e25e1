"""Bearer API keys (docs/architecture.md §6): random secrets, stored only as SHA-256, cached briefly.

A key reads ``clk_<key_id>_<secret>``; the key id is public (logs, metadata), the secret is
256 random bits and shown once. A revoked key stops working within the cache TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg

from proto.envelope import Actor, Role
from services.common.cache import BoundedCache

_TOKEN = re.compile(r"^clk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
CACHE_ENTRIES_MAX = 10_000


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    token: str
    role: Role
    institution_id: str | None
    name: str


@dataclass(frozen=True)
class _CachedKey:
    secret_sha256: bytes
    actor: Actor | None  # None: revoked or unknown


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    role: Role,
    name: str,
    institution_id: str | None = None,
) -> IssuedKey:
    if (role is Role.INSTITUTION) != (institution_id is not None):
        raise ValueError("an institution key names its institution; other keys name none")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO ledger.api_keys (key_id, secret_sha256, role, institution_id, name)"
        " VALUES ($1, $2, $3, $4, $5)",
        key_id,
        _digest(secret),
        str(role),
        institution_id,
        name,
    )
    return IssuedKey(key_id, f"clk_{key_id}_{secret}", role, institution_id, name)


async def revoke_key(conn: asyncpg.Connection | asyncpg.Pool, key_id: str) -> bool:
    status: str = await conn.execute(
        "UPDATE ledger.api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return status.endswith(" 1")


async def list_keys(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT key_id, role, institution_id, name, created_at, revoked_at"
        " FROM ledger.api_keys ORDER BY created_at, key_id"
    )
    return rows


class KeyAuthenticator:
    """Turns a bearer token into an ``Actor``, or ``None`` when it is not a valid key."""

    def __init__(self, pool: asyncpg.Pool, cache_ttl_s: float) -> None:
        self._pool = pool
        self._cache: BoundedCache[str, _CachedKey] = BoundedCache(
            CACHE_ENTRIES_MAX, ttl_s=cache_ttl_s
        )

    async def authenticate(self, token: str) -> Actor | None:
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        cached = self._cache.get(key_id)
        if cached is None:
            cached = await self._fetch(key_id)
        if cached.actor is None or not hmac.compare_digest(cached.secret_sha256, _digest(secret)):
            return None
        return cached.actor

    async def _fetch(self, key_id: str) -> _CachedKey:
        row = await self._pool.fetchrow(
            "SELECT secret_sha256, role, institution_id, revoked_at FROM ledger.api_keys"
            " WHERE key_id = $1",
            key_id,
        )
        if row is None or row["revoked_at"] is not None:
            entry = _CachedKey(b"", None)
        else:
            actor = Actor(
                role=Role(row["role"]), key_id=key_id, institution_id=row["institution_id"]
            )
            entry = _CachedKey(bytes(row["secret_sha256"]), actor)
        self._cache.put(key_id, entry)
        return entry
