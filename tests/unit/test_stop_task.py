"""Stopping a background task: a task that swallows one cancellation still stops."""

from __future__ import annotations

import asyncio

import pytest

from services.common import supervise
from services.common.supervise import stop_task


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervise, "STOP_WAIT_S", 0.05)
    swallowed: list[int] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)  # as a library's close() might, once

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await stop_task(task, name="stubborn")
    assert task.cancelled()
    assert swallowed == [1]


async def test_a_task_that_failed_is_stopped_without_raising() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop_task(task, name="broken")
    assert task.done()
