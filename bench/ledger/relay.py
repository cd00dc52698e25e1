"""The relay phase: an open loop of appends while a JetStream subscriber measures commit-to-receipt lag."""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.harness.metrics import histogram_quantile as _histogram_quantile
from bench.harness.sysinfo import (
    percentile,
)
from bench.ledger.models import (
    SLOW_MESSAGE_MS,
    SLOW_MESSAGES_KEPT,
    TARGET_RELAY_P99_S,
    Bench,
    RelayResult,
)
from bench.ledger.phases import base_spec, before_phase, run_phase
from bench.ledger.setup import relay_catch_up, scrape
from proto.subjects import LEDGER_SUBJECTS
from services.common.messaging import decode_ledger_headers


async def phase_relay(bench: Bench) -> RelayResult:
    options = bench.options
    label = f"relay lag @ {options.relay_rate:.0f} events/s (open loop)"
    await before_phase(bench, label)
    before = await scrape(bench)
    lags_ms: list[float] = []
    slow: list[tuple[float, float, int]] = []
    phase_start = time.time()

    async def on_message(message: Msg) -> None:
        received = time.time()
        try:
            said = decode_ledger_headers(message.headers)
        except (KeyError, ValueError):
            return  # not a LEDGER message
        lag_ms = (received - said.recorded_at.timestamp()) * 1000.0
        lags_ms.append(lag_ms)
        if lag_ms > SLOW_MESSAGE_MS and len(slow) < SLOW_MESSAGES_KEPT:
            slow.append((round(received - phase_start, 3), round(lag_ms, 1), said.position))

    nc = await nats.connect(bench.nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        subscription = await nc.jetstream().subscribe(
            LEDGER_SUBJECTS,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            headers_only=True,
        )
        spec = base_spec(bench, "http_paced", 0, 32, options.relay_seconds)
        spec.rate = options.relay_rate
        spec.batch_size = options.relay_batch
        load = await run_phase(bench, "relay_load", label, [spec], timed=False)
        await relay_catch_up(bench, 30.0)
        await asyncio.sleep(0.5)
        await subscription.unsubscribe()
    finally:
        await nc.close()
    after = await scrape(bench)
    delta = {le: after.lag_buckets.get(le, 0.0) - count for le, count in before.lag_buckets.items()}
    total = max(delta.values(), default=0.0)
    within = delta.get(TARGET_RELAY_P99_S, 0.0)
    lags_ms.sort()
    return RelayResult(
        target_rate=options.relay_rate,
        load=load,
        metric_count=int(total),
        metric_p50_ms=_histogram_quantile(delta, 0.50) * 1000.0,
        metric_p99_ms=_histogram_quantile(delta, 0.99) * 1000.0,
        metric_share_within_50ms=within / total if total else 0.0,
        subscriber_count=len(lags_ms),
        subscriber_p50_ms=percentile(lags_ms, 0.50),
        subscriber_p99_ms=percentile(lags_ms, 0.99),
        subscriber_max_ms=lags_ms[-1] if lags_ms else 0.0,
        slow_messages=slow,
    )
