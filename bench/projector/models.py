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
# The targets (judged on a log of 1,000,000 events / 100,000 learners on a 2-core box).
TARGET_REBUILD_EVENTS_PER_S = 35_000.0  # all partitions of the shipped layout at once
TARGET_REBUILD_ONE_PARTITION_EVENTS_PER_S = 25_000.0  # one partition process
TARGET_CPU_EFFICIENCY_TOLERANCE = 0.15  # events per CPU-second, N partitions vs 1
TARGET_LAG_P99_S = 0.1  # at --rate (1,000 events/s, single appends)
TARGET_FAST_LAG_P99_S = 0.25  # at --fast-rate (3,000 events/s, batches of 10)
TARGET_MEMORY_RATIO = 1.2
# How often the rebuild child samples its partition processes (VmHWM, CPU).
CHILD_SAMPLE_S = 0.025
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
    fast_rate: float
    fast_batch: int
    # The shipped layout: the rebuild of all its partitions at once, and the live projector.
    partitions: int
    repeat: int
    rebuild_timeout_s: float
    client_read: bool
    quick: bool
    json_path: Path | None
    data_dir: Path | None
    profile_dir: Path | None
    logs_dir: Path | None = None


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


class ProcessPeak(msgspec.Struct, kw_only=True):
    """One process of a rebuild's tree: the rebuild child itself ("coordinator" when it
    spawned partition processes, "partition" when it rebuilt in-process), a partition
    process, or multiprocessing's resource tracker."""

    pid: int
    role: str
    peak_rss_mb: float  # VmHWM (a partition process's: sampled every CHILD_SAMPLE_S)
    cpu_s: float  # from /proc/<pid>/stat (sampled, for a partition process)


class RebuildResult(msgspec.Struct, kw_only=True):
    label: str
    log: str  # "big" or "small"
    partitions: int  # rebuild_reporting(..., partitions): a process per partition beyond one
    run: int  # 0.. with --repeat
    events: int
    learners: int
    cache_learners: int
    position: int
    seconds: float
    events_per_s: float
    # CPU seconds of the rebuild's whole tree: the child and every partition process it
    # spawned and reaped (os.times' children), over the rebuild_reporting call.
    child_cpu_s: float
    # CPU seconds per process tree over the rebuild (ledger, postgres, rebuild, nats, ...)
    # and their sum over the processes that do the rebuild's work (not the coordinator,
    # not "other"); events per CPU-second is position / all_cpu_s.
    cpu_s: dict[str, float] = msgspec.field(default_factory=dict)
    all_cpu_s: float = 0.0
    events_per_cpu_s: float = 0.0
    # Every process of the rebuild's tree, and the peaks over the worker ones (the
    # partition processes; the child itself when it rebuilt in-process): the highest one
    # (peak_rss_mb) and their sum (peak_rss_sum_mb, an upper bound of the tree's at once).
    processes: list[ProcessPeak] = msgspec.field(default_factory=list)
    peak_rss_sum_mb: float = 0.0
    coordinator_rss_mb: float = 0.0
    # The rebuild process's CPU µs per event in each stage (services.projector.rebuild).
    stage_cpu_us_per_event: dict[str, float] = msgspec.field(default_factory=dict)
    rss_start_mb: float
    peak_rss_mb: float
    # (seconds since start, checkpoint position, RSS MB of the whole tree), every RSS_SAMPLE_S
    rss_samples: list[tuple[float, int, float]]
    cpu_cores: dict[str, float]
    timed_out: bool = False
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)


class LagResult(msgspec.Struct, kw_only=True):
    log: str  # "big" or "small"
    target_rate: float
    batch: int  # events per append (1: POST /v1/events; more: POST /v1/events/batch)
    clients: int  # the open loop's connections
    partitions: int  # the live projector's layout, all in its one process
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
    # The phase's target (100 ms at 1,000 events/s, 250 ms faster) and the share within it:
    # both are bucket bounds of projector_lag_seconds, so "99 % within" is exact.
    metric_share_within_target: float
    target_p99_ms: float
    poll_count: int
    poll_p50_ms: float
    poll_p99_ms: float
    poll_max_ms: float
    relay_p50_ms: float
    relay_p99_ms: float
    # The projector process's VmHWM after this phase (the phases run one after another in
    # one projector process: the last one's is the peak of the whole live run).
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
    # What the projector and the ledger logged during the phase (warnings and above), by
    # "level event", and the first error line (the first phase's includes the projector's
    # start).
    projector_logged: dict[str, int] = msgspec.field(default_factory=dict)
    projector_first_error: str | None = None
    ledger_logged: dict[str, int] = msgspec.field(default_factory=dict)
    ledger_first_error: str | None = None
    # The last phase of a projector process: what it logged when stopped (SIGTERM).
    projector_stop_logged: dict[str, int] = msgspec.field(default_factory=dict)
    projector_stop_first_error: str | None = None
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)
