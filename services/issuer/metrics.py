"""Prometheus metrics of the issuer, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class IssuerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.awards_appended = Counter(
            "issuer_awards_appended_total", "Awards appended (or found appended).", registry=r
        )
        self.award_skips = Counter(
            "issuer_award_skips_total",
            "Eligibility acknowledged without an award.",
            ["reason"],
            registry=r,
        )
        self.award_conflicts = Counter(
            "issuer_award_conflicts_total", "Appends refused with 409: re-read.", registry=r
        )
        self.revocations_appended = Counter(
            "issuer_revocations_appended_total", "Award revocations appended.", registry=r
        )
        self.credentials_issued = Counter(
            "issuer_credentials_issued_total", "Credentials signed and stored.", registry=r
        )
        self.credentials_revoked = Counter(
            "issuer_credentials_revoked_total", "Status bits set.", registry=r
        )
        self.award_to_credential_seconds = Histogram(
            "issuer_award_to_credential_seconds",
            "From the award's commit in the ledger to its credential's commit.",
            buckets=LAG_BUCKETS_S,
            registry=r,
        )
        self.handled = Counter(
            "issuer_messages_total",
            "Messages handled, by consumer and outcome.",
            ["consumer", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "issuer_dead_letters_total",
            "Messages sent to the dead-letter subject.",
            ["consumer"],
            registry=r,
        )
        self.published = Counter(
            "issuer_outbox_published_total", "Outbox messages published.", registry=r
        )
        self.reconcile_repairs = Counter(
            "issuer_reconcile_repairs_total",
            "What reconciliation from the ledger did that the consumers had not: a credential"
            " signed, a status bit set, an award revoked.",
            ["kind"],
            registry=r,
        )
        self.reconcile_failures = Counter(
            "issuer_reconcile_failures_total",
            "Events reconciliation gave up on (a permanent failure), by event type.",
            ["type"],
            registry=r,
        )
        self.reconcile_passes = Counter(
            "issuer_reconcile_passes_total",
            "Reconciliation passes: done, or skipped while another replica held the lock.",
            ["outcome"],
            registry=r,
        )
        self.reconcile_checkpoint = Gauge(
            "issuer_reconcile_checkpoint_position",
            "The log position reconciliation has checked up to.",
            registry=r,
        )
