"""Prometheus metrics of the projector, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
