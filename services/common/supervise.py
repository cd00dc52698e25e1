"""Runs a background loop for ever, restarting it with bounded backoff when it fails.

The relay, the projector's worker and the tree builder each lead while they hold a lock and
a connection; when either breaks, the body raises and is simply run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0


async def supervise(
    body: Callable[[], Awaitable[None]], *, name: str, after_each: Callable[[], None]
) -> None:
    """Await ``body()`` again and again; ``after_each`` runs after every attempt."""
    backoff = BACKOFF_MIN_S
    while True:
        try:
            await body()
            backoff = BACKOFF_MIN_S
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"{name}_interrupted", error=repr(exc), retry_in_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            after_each()
