"""The projector benchmark's options, constants and results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.harness.profiling import ProfileSummary
from bench.harness.report import progress_logger

PROGRESS_EVERY_S = 5.0
SMALL_DATABASE = "bench_projector_small"
PROJECTOR_ROLE = "credit_ledger_projector"
READY_TIMEOUT_S = 90.0
RSS_SAMPLE_S = 0.5
CHECKPOINT_POLL_S = 0.005
OUTBOX_DRAIN_TIMEOUT_S = 180.0
CATCH_UP_TIMEOUT_S = 60.0
LOADGEN_READY_TIMEOUT_S = 60.0
GO_DELAY_S = 0.3
TARGET_REBUILD_EVENTS_PER_S = 50_000.0
TARGET_LAG_P99_S = 0.1
TARGET_MEMORY_RATIO = 1.2
PROFILE_RATE_HZ = 100
SHARED_MACHINE_CORES = 0.25


@dataclass(frozen=True)
class Options:
    events: int
    learners: int
    small_events: int
    small_learners: int
    cache_learners: int
    lag_seconds: float
    rate: float
    batch: int
    clients: int
    rebuild_timeout_s: float
    client_read: bool
    quick: bool
    json_path: Path | None
    data_dir: Path | None
    profile_dir: Path | None


log = progress_logger("projector-bench")


# --- results --------------------------------------------------------------------------------


class LogFacts(msgspec.Struct, kw_only=True):
    label: str
    database: str
    events: int
    learners: int
    head: int
    seconds: float
    events_per_s: float
    table_bytes: int


class ReadResult(msgspec.Struct, kw_only=True):
    key: str
    label: str
    events: int
    bytes: int
    seconds: float
    events_per_s: float
    cpu_cores: dict[str, float]


class RebuildResult(msgspec.Struct, kw_only=True):
    label: str
    events: int
    learners: int
    cache_learners: int
    position: int
    seconds: float
    events_per_s: float
    child_cpu_s: float
    # The rebuild process's CPU µs per event in each stage (services.projector.rebuild).
    stage_cpu_us_per_event: dict[str, float] = msgspec.field(default_factory=dict)
    rss_start_mb: float
    peak_rss_mb: float
    # (seconds since start, checkpoint position, RSS MB), every RSS_SAMPLE_S
    rss_samples: list[tuple[float, int, float]]
    cpu_cores: dict[str, float]
    timed_out: bool = False
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)


class LagResult(msgspec.Struct, kw_only=True):
    target_rate: float
    seconds: float
    appended: int
    append_errors: int
    first_error: str | None
    append_p50_ms: float
    append_p99_ms: float
    late_sends: int
    outbox_drained_s: float
    outbox_left: int
    caught_up_s: float
    metric_count: int
    metric_p50_ms: float
    metric_p99_ms: float
    metric_share_within_100ms: float
    poll_count: int
    poll_p50_ms: float
    poll_p99_ms: float
    poll_max_ms: float
    relay_p50_ms: float
    relay_p99_ms: float
    projector_peak_rss_mb: float
    cached_learners: int | None
    # From the projector's own counters over the phase: events applied (from JetStream and
    # from gap fills), batches and their mean duration. projector_lag_seconds observes every
    # message handled, so observations beyond ``applied`` are repeated deliveries.
    applied: int
    gap_filled: int
    batches: int
    mean_batch_ms: float
    redelivered_pending: int
    consumer_ack_wait_s: float
    cpu_cores: dict[str, float]
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)
