"""Waiting for publish acknowledgements: a timeout raises, and a cancelled wait (a service
stopping) leaves no unretrieved exception for asyncio to log."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from services.common.messaging import await_acks


async def test_acks_that_do_not_come_time_out() -> None:
    pending = [asyncio.get_running_loop().create_future() for _ in range(3)]
    with pytest.raises(TimeoutError):
        await await_acks(pending, 0.01)


async def test_acks_that_came_are_awaited() -> None:
    done = [asyncio.get_running_loop().create_future() for _ in range(3)]
    for future in done:
        future.set_result(None)
    await await_acks(done, 1.0)


async def test_a_cancelled_wait_leaves_nothing_for_asyncio_to_log() -> None:
    loop = asyncio.get_running_loop()
    logged: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: logged.append(context))
    try:
        pending = [loop.create_future() for _ in range(3)]
        waiting = asyncio.create_task(await_acks(pending, 5.0))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        del waiting, pending
        gc.collect()
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(previous)
    assert logged == []
