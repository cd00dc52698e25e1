"""The write-path benchmark's options, constants and results."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench.harness.httpclient import RawHttpConnection
from bench.harness.report import progress_logger
from bench.harness.servers import (
    HOST,
)

WORKER_EXTRA_TIME_S = 120.0
# Positions of raw rows: each worker gets its own block (see loadgen.CONNECTION_SLOT).
POSITION_BLOCK = 10**10
TARGET_RELAY_P99_S = 0.05
SLOW_MESSAGE_MS = 25.0
SLOW_MESSAGES_KEPT = 500
COORDINATOR = "coordinator"
PROFILED_PHASES = ("b_http_single", "c_http_batch")
GROUP_HISTOGRAMS = (
    "ledger_group_commit_events",
    "ledger_group_commit_seconds",
    "ledger_append_seconds",
)


@dataclass(frozen=True)
class Options:
    seconds: float
    relay_seconds: float
    repeat: int
    json_path: Path | None
    data_dir: Path | None
    client_kind: str
    catchup_timeout_s: float
    profile_dir: Path | None = None
    server_module: str = "bench.serve_ledger"
    raw_conns: int = 32
    raw_procs: int = 2
    single_clients: int = 64
    single_procs: int = 2
    batch_clients: int = 4
    batch_size: int = 1000
    copy_conns: int = 4
    relay_rate: float = 1000.0
    relay_batch: int = 10


class PhaseResult(msgspec.Struct, kw_only=True):
    key: str
    label: str
    events: int
    requests: int
    errors: int
    first_error: str | None
    seconds: float
    events_per_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_cores: dict[str, float]
    # The server's share of cpu_cores by process: "http" and each helper (relay, tree builder).
    server_cores: dict[str, float] = msgspec.field(default_factory=dict)
    late_sends: int = 0
    relay_backlog_after: int = 0
    relay_drain_s: float = 0.0
    # From the ledger's own histograms over the phase (HTTP phases only).
    group_commits: int = 0
    mean_group_events: float = 0.0
    mean_group_commit_ms: float = 0.0
    mean_append_queue_to_commit_ms: float = 0.0
    rates: list[float] = msgspec.field(default_factory=list)


class RelayResult(msgspec.Struct, kw_only=True):
    target_rate: float
    load: PhaseResult
    metric_count: int
    metric_p50_ms: float
    metric_p99_ms: float
    metric_share_within_50ms: float
    subscriber_count: int
    subscriber_p50_ms: float
    subscriber_p99_ms: float
    subscriber_max_ms: float
    # Messages slower than SLOW_MESSAGE_MS: [seconds since subscribing, lag ms, position]
    slow_messages: list[tuple[float, float, int]] = msgspec.field(default_factory=list)


@dataclass
class Scrape:
    head: float = 0.0
    relay: float = 0.0
    tree: float = 0.0
    lag_buckets: dict[float, float] = field(default_factory=dict)
    # _sum and _count of the group-commit and append histograms, by sample name.
    totals: dict[str, float] = field(default_factory=dict)

    def delta(self, earlier: Scrape, name: str) -> float:
        return self.totals.get(name, 0.0) - earlier.totals.get(name, 0.0)


@dataclass
class Bench:
    options: Options
    workdir: Path
    database_url: str
    nats_url: str
    http_port: int
    cpu_roots: dict[str, int]
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    admin_token: str = ""
    institution_token: str = ""
    samples: list[tuple[str, str]] = field(default_factory=list)
    next_block: int = 1
    phase_count: int = 0

    def position_base(self) -> int:
        base = self.next_block * POSITION_BLOCK
        self.next_block += 1
        return base

    def http(self, token: str | None = None) -> RawHttpConnection:
        return RawHttpConnection(HOST, self.http_port, token)

    def assessed_on(self) -> str:
        return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat()


log = progress_logger("bench")
