"""Passbook links: the learner principal's way in (docs/architecture.md §6).

A link's token reads ``clp_<payload>.<mac>``: the payload (base64url) is
``<link id>|<learner id>|<expiry, Unix seconds>``, the mac (base64url) its HMAC-SHA256
under the system's link key (``ledger.passbook_link_keys``). A token authenticates as the
``learner`` role of that learner while it has not expired and its link is not revoked
(``ledger.passbook_links``; a revocation is seen within the key cache TTL, like an API
key's). Only the requester's key id and institution are stored with a link, never the token.

The passbook link is one way of proving to be a learner; an OpenID Connect sign-in would
be another ``authenticate`` beside this one, giving the same ``learner`` actor.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg
import msgspec

from proto.envelope import Actor, Role
from services.common.cache import BoundedCache

TOKEN_PREFIX = "clp_"  # noqa: S105 (the form of a token, not a secret)
KEY_ID = 1
CACHE_ENTRIES_MAX = 10_000


@dataclass(frozen=True)
class IssuedLink:
    link_id: str
    learner_id: str
    token: str
    expires_at: dt.datetime


class LinkRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A link as the ledger keeps it (never its token); what the link listing answers."""

    link_id: str
    learner_id: str
    requested_by_key: str
    requested_by_institution: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, link_id: str, learner_id: str, expires_at: dt.datetime) -> str:
    payload = f"{link_id}|{learner_id}|{int(expires_at.timestamp())}".encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{TOKEN_PREFIX}{_b64(payload)}.{_b64(mac)}"


def claims_of(secret: bytes, token: str, now: dt.datetime) -> tuple[str, str] | None:
    """(link id, learner id) of a token whose mac holds and which has not expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    payload_b64, _, mac_b64 = token[len(TOKEN_PREFIX) :].partition(".")
    try:
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()):
        return None
    try:
        link_id, learner_id, expiry = payload.decode("ascii").split("|")
        expires = int(expiry)
    except ValueError:
        return None
    if expires <= now.timestamp():
        return None
    return link_id, learner_id


class PassbookLinks:
    def __init__(self, pool: asyncpg.Pool, cache_ttl_s: float) -> None:
        self._pool = pool
        self._secret: bytes | None = None
        self._revoked: BoundedCache[str, bool] = BoundedCache(CACHE_ENTRIES_MAX, ttl_s=cache_ttl_s)

    async def load_key(self) -> None:
        """The system's link key, made by the first process that needs it."""
        await self._pool.execute(
            "INSERT INTO ledger.passbook_link_keys (key_id, secret) VALUES ($1, $2)"
            " ON CONFLICT (key_id) DO NOTHING",
            KEY_ID,
            secrets.token_bytes(32),
        )
        secret = await self._pool.fetchval(
            "SELECT secret FROM ledger.passbook_link_keys WHERE key_id = $1", KEY_ID
        )
        self._secret = bytes(secret)

    @property
    def _key(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("PassbookLinks.load_key() was not awaited")
        return self._secret

    async def issue(self, learner_id: str, requester: Actor, valid_for: dt.timedelta) -> IssuedLink:
        link_id = secrets.token_hex(8)
        expires_at = await self._pool.fetchval(
            "INSERT INTO ledger.passbook_links (link_id, learner_id, requested_by_key,"
            " requested_by_institution, expires_at) VALUES ($1, $2, $3, $4, now() + $5)"
            " RETURNING expires_at",
            link_id,
            learner_id,
            requester.key_id,
            requester.institution_id,
            valid_for,
        )
        token = sign(self._key, link_id, learner_id, expires_at)
        return IssuedLink(link_id, learner_id, token, expires_at)

    async def authenticate(self, token: str) -> Actor | None:
        claims = claims_of(self._key, token, dt.datetime.now(dt.UTC))
        if claims is None:
            return None
        link_id, learner_id = claims
        revoked = self._revoked.get(link_id)
        if revoked is None:
            row = await self._pool.fetchrow(
                "SELECT revoked_at, learner_id FROM ledger.passbook_links WHERE link_id = $1",
                link_id,
            )
            revoked = (
                row is None or row["revoked_at"] is not None or row["learner_id"] != learner_id
            )
            self._revoked.put(link_id, revoked)
        if revoked:
            return None
        return Actor(role=Role.LEARNER, key_id=f"link-{link_id}", learner_id=learner_id)

    async def links_of(self, learner_id: str) -> list[LinkRecord]:
        rows = await self._pool.fetch(
            "SELECT * FROM ledger.passbook_links WHERE learner_id = $1 ORDER BY created_at, link_id",
            learner_id,
        )
        return [LinkRecord(**dict(row)) for row in rows]

    async def link(self, link_id: str) -> LinkRecord | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM ledger.passbook_links WHERE link_id = $1", link_id
        )
        return None if row is None else LinkRecord(**dict(row))

    async def revoke(self, link_id: str, by: Actor) -> None:
        await self._pool.execute(
            "UPDATE ledger.passbook_links SET revoked_at = now(), revoked_by = $2"
            " WHERE link_id = $1 AND revoked_at IS NULL",
            link_id,
            by.key_id,
        )
        self._revoked.put(link_id, True)


def may_manage(link: LinkRecord, actor: Actor) -> bool:
    """Who may see and revoke a link: an admin, the institution that asked for it (any of
    its keys), the key that asked for it, and the learner it lets in."""
    if actor.role is Role.ADMIN or actor.key_id == link.requested_by_key:
        return True
    if actor.role is Role.INSTITUTION:
        return (
            actor.institution_id is not None
            and actor.institution_id == link.requested_by_institution
        )
    return actor.role is Role.LEARNER and actor.learner_id == link.learner_id
