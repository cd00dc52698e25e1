"""Prometheus metrics of the projector, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Fine around the targets (100 ms at 1,000 events/s, 250 ms at 3,000), where a p99 is
# interpolated within one bucket.
LAG_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class ProjectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.applied = Counter(
            "projector_events_applied_total", "Events applied.", registry=self.registry
        )
        self.gap_filled = Counter(
            "projector_events_gap_filled_total",
            "Events read from the ledger's API because NATS did not deliver them.",
            registry=self.registry,
        )
        self.checkpoint = Gauge(
            "projector_checkpoint_position", "Last applied position.", registry=self.registry
        )
        self.lag_seconds = Histogram(
            "projector_lag_seconds",
            "From an event's commit in the ledger to its read-model commit.",
            buckets=LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "projector_batch_seconds",
            "Duration of one applied batch.",
            buckets=LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.published = Counter(
            "projector_outbox_published_total", "Outbox messages published.", registry=self.registry
        )
