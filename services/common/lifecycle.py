"""One lifecycle for every background loop: start, supervised restart, and a bounded stop.

The relay, the projector's worker, the tree builder, the group commit, the issuer's
consumers and reconciliation, and the outbox publishers each run one body for as long as
their service lives. A body that fails (a lost lock, a broken connection) is simply run
again after a backoff that grows from ``BACKOFF_MIN_S`` to ``BACKOFF_MAX_S`` and is reset
by an attempt that ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0

# A cancelled task normally ends at once; a library that swallows one cancellation (nats.py
# can, inside connect and close) would make a service's shutdown hang for ever.
STOP_WAIT_S = 2.0
STOP_ATTEMPTS_MAX = 5


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class GracefulStop:
    """For a body that must not be cancelled mid-step (a transaction, a COPY).

    ``ask`` tells the body to finish and returns True when it may be cancelled at once
    (it is only waiting). Otherwise the body has ``grace_s`` to end by itself; then
    ``on_expiry`` runs (say, to terminate the connection it awaits) before the cancel.
    """

    ask: Callable[[], bool]
    grace_s: float
    on_expiry: Callable[[], None] = _nothing


class BackgroundLoop:
    """Runs ``body`` in a task until stopped, again after each failure.

    ``after_each`` runs after every attempt, failed or not (to clear a leader flag, say).
    A body that returns is run again at once unless the loop is stopping.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[None]],
        *,
        after_each: Callable[[], None] = _nothing,
        graceful: GracefulStop | None = None,
    ) -> None:
        self.name = name
        self._body = body
        self._after_each = after_each
        self._graceful = graceful
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        if self._graceful is not None and not self._graceful.ask():
            done, _ = await asyncio.wait({task}, timeout=self._graceful.grace_s)
            if not done:
                self._graceful.on_expiry()
        await stop_task(task, name=self.name)

    async def _supervise(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._stopping:
            try:
                await self._body()
                backoff = BACKOFF_MIN_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{self.name}_interrupted", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                self._after_each()


async def stop_task(task: asyncio.Task[None], *, name: str) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it ignores the request."""
    for _ in range(STOP_ATTEMPTS_MAX):
        if not task.done():
            task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.warning(f"{name}_failed_on_stop", error=repr(task.exception()))
            return
    log.error(f"{name}_did_not_stop", attempts=STOP_ATTEMPTS_MAX, wait_s=STOP_WAIT_S)


class RunsInBackground:
    """Base of a component whose work is one ``BackgroundLoop``, kept in ``_loop``."""

    _loop: BackgroundLoop

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


class Background(Protocol):
    def start(self) -> None: ...

    async def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def running(*components: Background | None) -> AsyncIterator[None]:
    """Start ``components`` (``None`` ones are left out) in order, and stop the started
    ones in reverse order however the block ends: a service's lifespan."""
    started: list[Background] = []
    try:
        for component in components:
            if component is not None:
                component.start()
                started.append(component)
        yield
    finally:
        for component in reversed(started):
            await component.stop()


async def until_signalled() -> None:
    """Return on SIGTERM or SIGINT: how a component run as a process of its own (the relay,
    the tree builder) waits, so that a supervisor's stop lets it finish cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop, as uvicorn runs the HTTP workers: a long-running process
    (the relay, the tree builder) spends much of its CPU in the event loop's own I/O."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
