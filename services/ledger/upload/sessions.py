"""Upload-page sessions, kept in PostgreSQL so that every ledger worker process shares them
(migration 0009).

The browser holds a random 256-bit token in a ``Secure``, ``HttpOnly``, ``SameSite=Strict``
cookie; the table holds its SHA-256. Each session has a form token of its own that every
form of the page carries back (CSRF). Looking a session up joins the key it was opened
with, so a revoked key ends its sessions at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

from proto.envelope import Actor, Role

COOKIE_NAME = "upload_session"
# Tokens are token_urlsafe(32): 43 characters. Anything far longer is not ours.
TOKEN_MAX_CHARS = 64


@dataclass(frozen=True)
class UploadSession:
    actor: Actor
    csrf_token: str
    expires_at: dt.datetime

    def csrf_matches(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf_token.encode(), presented.encode())


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class UploadSessions:
    def __init__(self, pool: asyncpg.Pool, lifetime: dt.timedelta) -> None:
        self._pool = pool
        self._lifetime = lifetime

    @property
    def lifetime(self) -> dt.timedelta:
        return self._lifetime

    async def open(self, actor: Actor) -> str:
        """A new session of ``actor``'s key; returns the token for the cookie. Sessions
        past their end are deleted on the way."""
        token = secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM ledger.upload_sessions WHERE expires_at < now()")
            await conn.execute(
                "INSERT INTO ledger.upload_sessions (token_sha256, key_id, csrf_token, expires_at)"
                " VALUES ($1, $2, $3, now() + $4)",
                _digest(token),
                actor.key_id,
                secrets.token_urlsafe(32),
                self._lifetime,
            )
        return token

    async def find(self, token: str | None) -> UploadSession | None:
        """The live session of ``token``: not past its end, its key not revoked."""
        if not token or len(token) > TOKEN_MAX_CHARS:
            return None
        row = await self._pool.fetchrow(
            "SELECT s.key_id, s.csrf_token, s.expires_at, k.role, k.institution_id"
            " FROM ledger.upload_sessions s JOIN ledger.api_keys k USING (key_id)"
            " WHERE s.token_sha256 = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
            _digest(token),
        )
        if row is None:
            return None
        actor = Actor(
            role=Role(row["role"]), key_id=row["key_id"], institution_id=row["institution_id"]
        )
        return UploadSession(actor, row["csrf_token"], row["expires_at"])

    async def close(self, token: str) -> None:
        await self._pool.execute(
            "DELETE FROM ledger.upload_sessions WHERE token_sha256 = $1", _digest(token)
        )
