"""Metrics of the transparency log, registered in the ledger's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.tree_size = Gauge(
            "ledger_audit_tree_size",
            "Leaves in the Merkle tree (compare ledger_head_position).",
            registry=registry,
            multiprocess_mode="max",
        )
        self.chain_mismatches = Counter(
            "ledger_audit_chain_mismatches_total",
            "Events whose stored hash differs from the chain hash the tree builder recomputed."
            " Anything above 0 means the log was changed after it was written.",
            registry=registry,
        )
        self.tree_heads_signed = Counter(
            "ledger_audit_tree_heads_signed_total",
            "Signed tree heads produced by this process.",
            registry=registry,
        )
        self.builder_leader = Gauge(
            "ledger_audit_tree_builder_leader",
            "1 while a process builds the tree (one builder is active at a time).",
            registry=registry,
            multiprocess_mode="livemax",
        )
