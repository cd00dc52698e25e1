"""Scraping a service's /metrics, and histograms read the way Prometheus reads them."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from bench.harness.httpclient import RawHttpConnection
from bench.harness.servers import HOST


async def metrics_text(port: int) -> str:
    client = RawHttpConnection(HOST, port, None)
    try:
        status, body = await client.request("GET", "/metrics")
    finally:
        await client.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics on port {port} answered {status}")
    return body.decode()


async def scrape(port: int) -> dict[str, float]:
    """Every sample of a /metrics page, histogram buckets as ``name{le}``."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(await metrics_text(port)):
        for sample in family.samples:
            key = sample.name
            if "le" in sample.labels:
                key += "{" + sample.labels["le"] + "}"
            samples[key] = sample.value
    return samples


def delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def buckets(samples: dict[str, float], name: str) -> dict[float, float]:
    """The cumulative buckets of histogram ``name``, by upper bound."""
    prefix = f"{name}_bucket{{"
    return {float(k[len(prefix) : -1]): v for k, v in samples.items() if k.startswith(prefix)}


def bucket_delta(
    before: dict[str, float], after: dict[str, float], name: str
) -> dict[float, float]:
    earlier = buckets(before, name)
    return {le: count - earlier.get(le, 0.0) for le, count in buckets(after, name).items()}


def histogram_quantile(cumulative: dict[float, float], q: float) -> float:
    """Like Prometheus's histogram_quantile over cumulative buckets (linear inside one)."""
    ordered = sorted(cumulative.items())
    if not ordered or ordered[-1][1] <= 0:
        return 0.0
    rank = q * ordered[-1][1]
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return previous_le
            share = (rank - previous_count) / max(count - previous_count, 1e-12)
            return previous_le + (le - previous_le) * share
        previous_le, previous_count = le, count
    return previous_le
