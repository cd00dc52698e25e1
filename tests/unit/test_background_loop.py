"""Background loops: supervised restart, and a stop that ends even a stubborn task."""

from __future__ import annotations

import asyncio

import pytest

from services.common import lifecycle
from services.common.lifecycle import stop_task


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "STOP_WAIT_S", 0.05)
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


async def test_a_failing_body_is_run_again_and_after_each_follows_every_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_MIN_S", 0.001)
    attempts: list[int] = []
    ended: list[int] = []
    third = asyncio.Event()

    async def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("lost the lock")
        third.set()
        await asyncio.sleep(3600)

    loop = lifecycle.BackgroundLoop("flaky", flaky, after_each=lambda: ended.append(1))
    loop.start()
    await asyncio.wait_for(third.wait(), 5)
    assert loop.running
    assert len(ended) == 2  # after each failed attempt; the third still runs
    await loop.stop()
    assert not loop.running
    assert len(ended) == 3  # and after the cancelled one


async def test_a_loop_cannot_be_started_twice_and_stopping_an_unstarted_one_is_harmless() -> None:
    async def idle() -> None:
        await asyncio.sleep(3600)

    loop = lifecycle.BackgroundLoop("idle", idle)
    await loop.stop()
    loop.start()
    with pytest.raises(RuntimeError, match="already started"):
        loop.start()
    await loop.stop()
    loop.start()  # a stopped loop starts again
    await loop.stop()


async def test_a_graceful_stop_lets_the_body_finish_its_step() -> None:
    steps: list[str] = []
    started = asyncio.Event()
    asked = asyncio.Event()

    async def stepping() -> None:
        started.set()
        await asked.wait()
        await asyncio.sleep(0.01)  # the rest of the step
        steps.append("finished")

    def ask() -> bool:
        asked.set()
        return False

    loop = lifecycle.BackgroundLoop(
        "stepping", stepping, graceful=lifecycle.GracefulStop(ask=ask, grace_s=5)
    )
    loop.start()
    await started.wait()
    await loop.stop()
    assert steps == ["finished"]  # ended by itself, not cancelled, and not run again


async def test_a_graceful_stop_that_runs_out_of_grace_calls_on_expiry_then_cancels() -> None:
    expired: list[int] = []
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.sleep(3600)

    loop = lifecycle.BackgroundLoop(
        "stuck",
        stuck,
        graceful=lifecycle.GracefulStop(
            ask=lambda: False, grace_s=0.05, on_expiry=lambda: expired.append(1)
        ),
    )
    loop.start()
    await started.wait()
    await loop.stop()
    assert expired == [1]
    assert not loop.running
