"""The LEDGER stream as tests see it: wait for the relay, and lose messages on purpose."""

from __future__ import annotations

import asyncio
import time

import nats

from proto.subjects import LEDGER_STREAM

RELAY_TIMEOUT_S = 10.0


async def relayed_up_to(nats_url: str, position: int) -> None:
    """Wait until the LEDGER stream's last message is the event at ``position``."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=5)
    try:
        js = nc.jetstream(timeout=5)
        deadline = time.monotonic() + RELAY_TIMEOUT_S
        while True:
            state = (await js.stream_info(LEDGER_STREAM)).state
            if state.messages > 0:
                last = await js.get_msg(LEDGER_STREAM, seq=state.last_seq)
                if int((last.headers or {})["Ledger-Position"]) >= position:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"the relay did not publish up to position {position}")
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def purge_ledger_stream(nats_url: str) -> None:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=5)
    try:
        js = nc.jetstream(timeout=5)
        await js.purge_stream(LEDGER_STREAM)
        assert (await js.stream_info(LEDGER_STREAM)).state.messages == 0
    finally:
        await nc.close()
