"""Inclusion and consistency proof latency (service and HTTP) and tree-head signing time."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.audit.eventlog import HTTP_PROOF_SAMPLES, PROOF_SAMPLES, SIGN_SAMPLES
from bench.harness.sysinfo import percentile
from proto.envelope import Role
from services.common import db
from services.common.settings import load_settings
from services.ledger.api_keys import create_key
from services.ledger.audit import proofs
from services.ledger.audit.head_store import register_key, sign_current_tree
from services.ledger.audit.signing import signer_from_key
from services.ledger.audit.tree_head import sign_tree_head


def _quantiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def timed(samples: int, call: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    durations = []
    for sample in range(samples):
        started = time.perf_counter()
        await call(sample)
        durations.append(time.perf_counter() - started)
    return _quantiles_ms(durations)


async def proof_latency(url: str, size: int) -> dict[str, dict[str, float]]:
    rng = random.Random(9162)
    pool = await db.create_pool(url, 4)
    try:

        async def inclusion(_: int) -> None:
            async with pool.acquire() as conn:
                await proofs.inclusion(conn, rng.randrange(1, size + 1), size)

        async def consistency(_: int) -> None:
            async with pool.acquire() as conn:
                await proofs.consistency(conn, rng.randrange(1, size + 1), size)

        await timed(100, inclusion)  # warm the pool and the buffer cache
        return {
            "inclusion": await timed(PROOF_SAMPLES, inclusion),
            "consistency": await timed(PROOF_SAMPLES, consistency),
        }
    finally:
        await pool.close()


async def http_proof_latency(url: str, size: int, key_file: Path) -> dict[str, dict[str, float]]:
    """Through the ledger's HTTP API: auth, routing, the query, JSON (in-process ASGI)."""
    from litestar.testing import AsyncTestClient

    from services.ledger.app import create_app

    settings = load_settings(
        {
            "DATABASE_URL": url,
            "CREDIT_LEDGER_RELAY_ENABLED": "false",
            "CREDIT_LEDGER_LOG_LEVEL": "warning",
            "CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": str(key_file),
        }
    )
    conn = await asyncpg.connect(url)
    try:
        token = (await create_key(conn, role=Role.AUDITOR, name="bench")).token
    finally:
        await conn.close()
    rng = random.Random(6962)
    headers = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(settings), timeout=30) as client:

        async def get(path: str, params: dict[str, int]) -> None:
            response = await client.get(path, params=params, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")

        async def inclusion(_: int) -> None:
            params = {"position": rng.randrange(1, size + 1), "tree_size": size}
            await get("/v1/audit/proofs/inclusion", params)

        async def consistency(_: int) -> None:
            params = {"from_size": rng.randrange(1, size + 1), "to_size": size}
            await get("/v1/audit/proofs/consistency", params)

        await timed(50, inclusion)
        return {
            "inclusion": await timed(HTTP_PROOF_SAMPLES, inclusion),
            "consistency": await timed(HTTP_PROOF_SAMPLES, consistency),
        }


async def signing_time(url: str, key_file: Path) -> dict[str, dict[str, float]]:
    key = Ed25519PrivateKey.generate()
    root = hashlib.sha256(b"root").digest()
    now = dt.datetime.now(dt.UTC)
    durations = []
    for size in range(SIGN_SAMPLES * 5):
        started = time.perf_counter()
        sign_tree_head(key, "bench", size, root, now)
        durations.append(time.perf_counter() - started)
    signer = signer_from_key(key)
    conn = await db.connect(url)
    try:
        await register_key(conn, signer)

        async def whole_head(_: int) -> None:
            await sign_current_tree(conn, signer, dt.datetime.now(dt.UTC))

        whole = await timed(SIGN_SAMPLES, whole_head)
    finally:
        await conn.close()
    return {"ed25519_signature": _quantiles_ms(durations), "signed_head": whole}


# --- the run -----------------------------------------------------------------------------
