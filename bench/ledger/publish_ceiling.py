"""The relay's ceiling: a raw ``publish_async`` burst into a stream configured like LEDGER.

The same nats-server (``sync_interval: always``), one connection, the same stream settings
(``ledger_stream_config``, under another name and subject so that the ledger's stream and
its relay never see these messages), messages of a typical event's size with the relay's
headers, at most ``IN_FLIGHT`` unacknowledged: what the broker can take from one publisher,
against which the relay's drain rate is judged.
"""

from __future__ import annotations

import dataclasses
import time

import nats

from services.common.messaging import declare_stream, ledger_stream_config

STREAM = "BENCH_CEILING"
SUBJECT = "bench.ceiling.events"
IN_FLIGHT = 1000
# A pass as the ledger stores it, and headers of the relay's size.
PAYLOAD = b"x" * 400
HEADERS = {f"Ledger-Header-{n}": "0123456789abcdef0123456789abcdef" for n in range(8)}


async def publish_ceiling(nats_url: str, messages: int) -> float:
    """Messages acknowledged per second."""
    nc = await nats.connect(nats_url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10, publish_async_max_pending=IN_FLIGHT)
        config = dataclasses.replace(
            ledger_stream_config(1), name=STREAM, subjects=[SUBJECT], description="bench"
        )
        await declare_stream(js, config)
        started = time.perf_counter()
        acks = [
            await js.publish_async(SUBJECT, PAYLOAD, headers={**HEADERS, "Nats-Msg-Id": str(n)})
            for n in range(messages)
        ]
        for ack in acks:
            await ack
        elapsed = time.perf_counter() - started
        await js.delete_stream(STREAM)
        return messages / elapsed
    finally:
        await nc.close()
