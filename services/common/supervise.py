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


# A cancelled task normally ends at once; a library that swallows one cancellation (nats.py
# can, inside connect and close) would make a service's shutdown hang for ever.
STOP_WAIT_S = 2.0
STOP_ATTEMPTS_MAX = 5


async def stop_task(task: asyncio.Task[None], *, name: str) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it ignores the request."""
    for _ in range(STOP_ATTEMPTS_MAX):
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.warning(f"{name}_failed_on_stop", error=repr(task.exception()))
            return
    log.error(f"{name}_did_not_stop", attempts=STOP_ATTEMPTS_MAX, wait_s=STOP_WAIT_S)
