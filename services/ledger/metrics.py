"""Prometheus metrics of the ledger, in a registry of its own (one per app instance), or
shared by its processes (``services.common.shared_metrics``: gauges say how they combine)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.ledger.errors import Refused
from services.ledger.group import NOT_WRITTEN_CODE

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
BATCH_ABORTED = "batch_aborted"


class LedgerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.appends = Counter(
            "ledger_appends_total",
            "Append outcomes per event type.",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.group_size = Histogram(
            "ledger_group_commit_events",
            "Events decided per group commit.",
            buckets=SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "ledger_batch_request_events",
            "Events per batch append request.",
            buckets=SIZE_BUCKETS,
            registry=self.registry,
        )
        self.append_latency = Histogram(
            "ledger_append_seconds",
            "From queueing an append request to its commit.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.group_commit_seconds = Histogram(
            "ledger_group_commit_seconds",
            "Duration of one group-commit transaction.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.relay_lag_seconds = Histogram(
            "ledger_relay_lag_seconds",
            "From an event's commit (recorded_at) to its JetStream acknowledgement.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.relay_published = Counter(
            "ledger_relay_published_total", "Events published to JetStream.", registry=self.registry
        )
        self.relay_position = Gauge(
            "ledger_relay_position",
            "Position of the last event JetStream acknowledged (compare ledger_head_position).",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.head_position = Gauge(
            "ledger_head_position",
            "Position of the last committed event.",
            registry=self.registry,
            multiprocess_mode="max",
        )

    def record_outcomes(self, outcomes: Iterable[tuple[str, object]]) -> None:
        """Counts (event type, outcome) pairs, one increment per distinct pair (an
        increment of a shared multiprocess counter costs microseconds). An outcome is
        ``appended``, ``duplicate``, ``refused_<status>`` for an event refused on its own
        account, or ``batch_aborted`` for an event that was acceptable but not written
        because another item of its atomic batch was refused."""
        counts = Tally((event_type, outcome_label(outcome)) for event_type, outcome in outcomes)
        for (event_type, label), count in counts.items():
            self.appends.labels(event_type, label).inc(count)


def outcome_label(outcome: object) -> str:
    if isinstance(outcome, Refused):
        return BATCH_ABORTED if outcome.code == NOT_WRITTEN_CODE else f"refused_{outcome.status}"
    return "duplicate" if getattr(outcome, "duplicate", False) else "appended"
