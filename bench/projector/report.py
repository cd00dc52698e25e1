"""The projector benchmark's checks and its text report."""

from __future__ import annotations

import statistics
from typing import Any

from bench.harness.report import ratio as _ratio
from bench.harness.report import verdict as _verdict
from bench.projector.models import (
    CHECKPOINT_POLL_S,
    PROFILE_RATE_HZ,
    SHARED_MACHINE_CORES,
    TARGET_CPU_EFFICIENCY_TOLERANCE,
    TARGET_FAST_LAG_P99_S,
    TARGET_LAG_P99_S,
    TARGET_MEMORY_RATIO,
    TARGET_REBUILD_EVENTS_PER_S,
    TARGET_REBUILD_ONE_PARTITION_EVENTS_PER_S,
    LagResult,
    LogFacts,
    RebuildResult,
)

# The log the targets are set for.
TARGET_EVENTS = 1_000_000
TARGET_LEARNERS = 100_000

# --- checks --------------------------------------------------------------------------------------


def _cpu_columns(cpu: dict[str, float]) -> str:
    return "".join(
        f"{cpu.get(name, 0.0):>7.2f}"
        for name in ("ledger", "rebuild", "projector", "postgres", "nats", "coordinator", "other")
    )


def _runs(rebuilds: list[RebuildResult], log: str, partitions: int) -> list[RebuildResult]:
    return [r for r in rebuilds if r.log == log and r.partitions == partitions]


def _median(runs: list[RebuildResult], figure: str) -> float | None:
    """The median of a figure over the complete runs (None without one)."""
    values = [getattr(r, figure) for r in runs if not r.timed_out]
    return float(statistics.median(values)) if values else None


def _memory_ratio(
    big: list[RebuildResult], small: list[RebuildResult], figure: str
) -> float | None:
    """big / small, meaningful only when the small log has more learners than the cache."""
    if not small or small[0].learners <= small[0].cache_learners:
        return None
    numerator, denominator = _median(big, figure), _median(small, figure)
    if numerator is None or denominator is None:
        return None
    return _ratio(numerator, denominator)


def _phase(live_runs: list[LagResult], log: str, index: int) -> LagResult | None:
    runs = [r for r in live_runs if r.log == log]
    return runs[index] if index < len(runs) else None


# A live phase whose appends fell below this share of the offered rate did not test its
# target: its lag verdict is a MISS whatever the lag.
RATE_REACHED_SHARE = 0.95


def _rate_reached(live: LagResult | None) -> bool:
    return bool(
        live and _ratio(live.appended, live.seconds) >= RATE_REACHED_SHARE * live.target_rate
    )


def durability(report: dict[str, Any]) -> tuple[str, bool]:
    db = report["database"]
    sync_interval = report.get("jetstream_sync_interval", "?")
    figure = f"{db['fsync']}/{db['synchronous_commit']}/{sync_interval}"
    ok = db["fsync"] == "on" and db["synchronous_commit"] == "on" and sync_interval == "always"
    return figure, ok


def checks(report: dict[str, Any]) -> dict[str, Any]:
    reads = {r.key: r for r in report["reads"]}
    rebuilds: list[RebuildResult] = report["rebuilds"]
    partitions = int(report["options"]["partitions"])
    shipped = _runs(rebuilds, "big", partitions)
    one = _runs(rebuilds, "big", 1)
    small_shipped = _runs(rebuilds, "small", partitions)
    small_one = _runs(rebuilds, "small", 1)
    live: LagResult | None = report.get("live")
    fast: LagResult | None = report.get("live_fast")
    live_runs: list[LagResult] = report.get("live_runs") or []
    ndjson = reads["a_http_ndjson"].events_per_s
    rebuild_eps = _median(shipped, "events_per_s")
    one_eps = _median(one, "events_per_s")
    cpu_shipped = _median(shipped, "events_per_cpu_s")
    cpu_one = _median(one, "events_per_cpu_s")
    cpu_ratio = _ratio(cpu_shipped, cpu_one) if cpu_shipped and cpu_one else None
    memory = _memory_ratio(shipped, small_shipped, "peak_rss_mb")
    # The live projector's peak after its last phase, big log against small.
    big_live = [r for r in live_runs if r.log == "big"]
    small_live = [r for r in live_runs if r.log == "small"]
    live_memory = (
        _ratio(big_live[-1].projector_peak_rss_mb, small_live[-1].projector_peak_rss_mb)
        if big_live
        and small_live
        and small_shipped
        and small_shipped[0].learners > small_shipped[0].cache_learners
        else None
    )
    durable_figure, durable_ok = durability(report)
    result: dict[str, Any] = {
        "durable": durable_figure,
        "durable_ok": durable_ok,
        "partitions": partitions,
        "rebuild_events_per_s": rebuild_eps,
        "rebuild_ok": rebuild_eps is not None and rebuild_eps >= TARGET_REBUILD_EVENTS_PER_S,
        "rebuild_one_partition_events_per_s": one_eps,
        "rebuild_one_partition_ok": one_eps is not None
        and one_eps >= TARGET_REBUILD_ONE_PARTITION_EVENTS_PER_S,
        "events_per_cpu_s": cpu_shipped,
        "events_per_cpu_s_one_partition": cpu_one,
        "cpu_efficiency_ratio": cpu_ratio,
        "cpu_efficiency_ok": cpu_ratio is not None
        and abs(cpu_ratio - 1.0) <= TARGET_CPU_EFFICIENCY_TOLERANCE,
        "b_over_a_ndjson": _ratio(rebuild_eps or 0.0, ndjson),
        "b_over_a_db_scan": _ratio(rebuild_eps or 0.0, reads["a_db_scan"].events_per_s),
        # None when the histogram observed nothing: every event came by a gap fill.
        "lag_p99_ms": live.metric_p99_ms if live and live.metric_count else None,
        # 0.1 s and 0.25 s are bucket bounds of projector_lag_seconds: "99 % within" is exact.
        "lag_ok": bool(
            live
            and live.metric_count
            and live.metric_share_within_target >= 0.99
            and _rate_reached(live)
        ),
        "appended_per_s": _ratio(live.appended, live.seconds) if live else None,
        "poll_p99_ms": live.poll_p99_ms if live else None,
        "poll_ok": bool(live and live.poll_count and live.poll_p99_ms < TARGET_LAG_P99_S * 1000),
        "relay_p99_ms": live.relay_p99_ms if live else None,
        "relay_share_p99": _ratio(live.relay_p99_ms, live.metric_p99_ms)
        if live and live.metric_count
        else None,
        "fast_lag_p99_ms": fast.metric_p99_ms if fast and fast.metric_count else None,
        "fast_lag_ok": bool(
            fast
            and fast.metric_count
            and fast.metric_share_within_target >= 0.99
            and _rate_reached(fast)
        ),
        "fast_appended_per_s": _ratio(fast.appended, fast.seconds) if fast else None,
        "fast_poll_p99_ms": fast.poll_p99_ms if fast else None,
        "fast_relay_p99_ms": fast.relay_p99_ms if fast else None,
        "fast_relay_share_p99": _ratio(fast.relay_p99_ms, fast.metric_p99_ms)
        if fast and fast.metric_count
        else None,
        # Peak RSS of the highest partition process of the shipped layout's rebuild.
        "memory_ratio": memory,
        "memory_ok": memory is not None and memory <= TARGET_MEMORY_RATIO,
        "memory_sum_ratio": _memory_ratio(shipped, small_shipped, "peak_rss_sum_mb"),
        "memory_one_partition_ratio": _memory_ratio(one, small_one, "peak_rss_mb"),
        "live_memory_ratio": live_memory,
        "live_memory_ok": live_memory is not None and live_memory <= TARGET_MEMORY_RATIO,
    }
    judged = (
        "durable_ok",
        "rebuild_ok",
        "rebuild_one_partition_ok",
        "cpu_efficiency_ok",
        "lag_ok",
        "fast_lag_ok",
        "memory_ok",
        "live_memory_ok",
    )
    result["all_ok"] = all(result[key] for key in judged)
    return result


# --- report ----------------------------------------------------------------------------------------


def _figure(value: float | None, spec: str) -> str:
    return f"{format(value, spec):>14}" if value is not None else f"{'n/a':>14}"


def _row(
    what: str, value: float | None, spec: str, target: str, ok: bool, *, ran: bool = False
) -> str:
    """A target's line; a figure missing from a phase that ran (``ran``) is a MISS."""
    verdict = _verdict(ok) if value is not None or ran else "n/a"
    figure = _figure(value, spec) if value is not None or not ran else f"{'none':>14}"
    return f"{what:<62}{figure}{target:>14}   {verdict}"


def _info(what: str, value: float | None, spec: str) -> str:
    return f"{what:<62}{_figure(value, spec)}{'-':>14}   info"


def _rebuild_lines(rebuild: RebuildResult) -> list[str]:
    cpu = rebuild.cpu_s
    partition_cpu = sum(p.cpu_s for p in rebuild.processes if p.role == "partition" and p.pid)
    lines = [
        f"  {rebuild.label}{f' run {rebuild.run + 1}' if rebuild.run else ''}:"
        f" {rebuild.position:,} events in {rebuild.seconds:.1f} s = {rebuild.events_per_s:,.0f} events/s",
        f"    CPU s: ledger {cpu.get('ledger', 0.0):.1f}, postgres {cpu.get('postgres', 0.0):.1f},"
        f" rebuild tree {cpu.get('rebuild', 0.0):.1f}"
        + (
            f" (partition processes {partition_cpu:.1f} sampled, the rest its coordinator)"
            if rebuild.partitions > 1
            else ""
        )
        + f", nats {cpu.get('nats', 0.0):.1f}; all {rebuild.all_cpu_s:.1f}"
        f" -> {rebuild.events_per_cpu_s:,.0f} events per CPU-second",
        "    peak RSS (VmHWM): "
        + ", ".join(
            f"{p.role}{f' {p.pid}' if p.pid else ''} {p.peak_rss_mb:,.0f} MB"
            for p in rebuild.processes
        )
        + f"; partition processes: max {rebuild.peak_rss_mb:,.0f} MB,"
        f" sum {rebuild.peak_rss_sum_mb:,.0f} MB",
    ]
    if rebuild.stage_cpu_us_per_event:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in rebuild.stage_cpu_us_per_event.items())
        lines.append(f"    CPU µs per event by stage (summed over partitions): {stages}")
    return lines


def _live_lines(live: LagResult) -> list[str]:
    how = "single appends" if live.batch == 1 else f"batches of {live.batch}"
    lines = [
        f"  {live.log} log @ {live.target_rate:,.0f} events/s offered ({how}, {live.clients}"
        f" connections), {_ratio(live.appended, live.seconds):,.0f} appended;"
        f" {live.partitions} partitions in one projector process:",
        f"    projector_lag_seconds ({live.metric_count:,} observations): p50 {live.metric_p50_ms:.1f} ms,"
        f" p99 {live.metric_p99_ms:.1f} ms, {live.metric_share_within_target * 100:.2f} % within"
        f" {live.target_p99_ms:.0f} ms",
        f"    checkpoints polled every {CHECKPOINT_POLL_S * 1000:.0f} ms ({live.poll_count:,} events,"
        f" each against its partition's): p50 {live.poll_p50_ms:.1f} ms,"
        f" p99 {live.poll_p99_ms:.1f} ms, max {live.poll_max_ms:.1f} ms",
        f"    of which the relay (ledger_relay_lag_seconds, commit -> JetStream ack):"
        f" p50 {live.relay_p50_ms:.1f} ms, p99 {live.relay_p99_ms:.1f} ms"
        + (
            f" = {_ratio(live.relay_p99_ms, live.metric_p99_ms) * 100:.0f} % of the lag p99"
            if live.metric_count
            else ""
        ),
        f"    appends: p50 {live.append_p50_ms:.1f} ms, p99 {live.append_p99_ms:.1f} ms, errors"
        f" {live.append_errors}, late sends {live.late_sends}; caught up {live.caught_up_s:.2f} s"
        " after the last append"
        + (
            f"; outbox drained in {live.outbox_drained_s:.1f} s before"
            + (f" ({live.outbox_left} left)" if live.outbox_left else "")
            if live.outbox_drained_s or live.outbox_left
            else ""
        ),
        f"    projector: {live.applied:,} events applied ({live.gap_filled:,} gap-filled from the"
        f" ledger) in {live.batches:,} batches of {live.mean_batch_ms:.0f} ms on average;"
        f" {max(0, live.metric_count - live.applied):,} lag observations beyond them;"
        f" {live.redelivered_pending} pending redelivery (ack wait {live.consumer_ack_wait_s:g} s);"
        f" peak RSS {live.projector_peak_rss_mb:,.0f} MB, {live.cached_learners} learners cached",
    ]
    if live.first_error:
        lines.append(f"    first append error: {live.first_error}")
    for service, logged, first in (
        ("projector", live.projector_logged, live.projector_first_error),
        ("ledger", live.ledger_logged, live.ledger_first_error),
        ("projector, when stopped,", live.projector_stop_logged, live.projector_stop_first_error),
    ):
        if logged:
            counts = ", ".join(f"{key} x{count}" for key, count in sorted(logged.items()))
            lines.append(f"    the {service} logged: {counts}")
        if first:
            lines.append(f"      first error: {first}")
    return lines


def render(report: dict[str, Any]) -> str:
    facts = report["machine"]
    db = report["database"]
    log_facts: LogFacts = report["log"]
    options = report["options"]
    ratios = report["checks"]
    partitions = ratios["partitions"]
    lines = [
        "Projector benchmark: raw log read, rebuilds by layout, live lag",
        f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), Python {facts['python']},"
        f" PostgreSQL {db['server_version']} (fsync={db['fsync']},"
        f" synchronous_commit={db['synchronous_commit']}, shared_buffers={db['shared_buffers']}),"
        f" JetStream sync_interval={report.get('jetstream_sync_interval', '?')},"
        f" data on {report['data_filesystem']} (8 kB write + fdatasync: {report['fdatasync_us']:.0f} us)",
        f"log: {log_facts.head:,} events ({log_facts.events:,} AssessmentPassed for"
        f" {log_facts.learners:,} learners after the demo catalog), ledger.events"
        f" {log_facts.table_bytes / 2**20:,.0f} MB, generated in {log_facts.seconds:.0f} s"
        f" ({log_facts.events_per_s:,.0f} events/s, COPY)",
    ]
    small_log: LogFacts | None = report.get("small_log")
    if small_log is not None:
        lines.append(
            f"small log (memory checks): {small_log.head:,} events ({small_log.events:,} for"
            f" {small_log.learners:,} learners)"
        )
    lines += [
        f"projector bank cache: {options['cache_learners']:,} learners; shipped layout:"
        f" {partitions} partitions",
        "",
        f"{'phase':<52}{'events':>11}{'seconds':>9}{'events/s':>10}   CPU cores:"
        f"{'ledger':>7}{'rebuild':>7}{'proj':>7}{'pg':>7}{'nats':>7}{'coord':>7}{'other':>7}",
    ]
    for read in report["reads"]:
        lines.append(
            f"{read.label:<52}{read.events:>11,}{read.seconds:>9.1f}{read.events_per_s:>10,.0f}"
            f"             {_cpu_columns(read.cpu_cores)}"
        )
    rebuilds: list[RebuildResult] = report["rebuilds"]
    for rebuild in rebuilds:
        label = rebuild.label + (f" #{rebuild.run + 1}" if rebuild.run else "")
        label += " (PARTIAL)" if rebuild.timed_out else ""
        lines.append(
            f"{label:<52}{rebuild.position:>11,}{rebuild.seconds:>9.1f}"
            f"{rebuild.events_per_s:>10,.0f}             {_cpu_columns(rebuild.cpu_cores)}"
        )
    live_runs: list[LagResult] = report.get("live_runs") or []
    for live in live_runs:
        how = "single" if live.batch == 1 else f"batch {live.batch}"
        label = f"(c) live @ {live.target_rate:,.0f}/s ({how}), {live.log} log"
        lines.append(
            f"{label:<52}{live.appended:>11,}{live.seconds:>9.1f}"
            f"{_ratio(live.appended, live.seconds):>10,.0f}             {_cpu_columns(live.cpu_cores)}"
            f"  loadgen {live.cpu_cores.get('loadgen', 0.0):.2f}"
        )
    lines += ["", "rebuilds (the rebuild column counts the child and every partition process):"]
    for rebuild in rebuilds:
        lines += _rebuild_lines(rebuild)
    small = [r for r in rebuilds if r.log == "small"]
    if small and small[0].learners <= small[0].cache_learners:
        lines.append(
            "  (the smaller log's learners fit in the cache: it cannot show whether memory"
            " grows beyond it; the memory checks are n/a)"
        )
    if live_runs:
        lines += ["", "live lag, ledger commit -> read-model commit:"]
        for live in live_runs:
            lines += _live_lines(live)
    fast_label = (
        f"live lag p99 @ {options['fast_rate']:,.0f} events/s, batches of"
        f" {options['fast_batch']} (ms)"
    )
    one_how = "single appends" if options["batch"] == 1 else f"batches of {options['batch']}"
    tolerance = TARGET_CPU_EFFICIENCY_TOLERANCE
    lines += [
        "",
        f"{'target':<62}{'figure':>14}{'target':>14}   verdict",
        f"{'durable: fsync / synchronous_commit / JetStream sync_interval':<62}"
        f"{ratios['durable']:>14}{'on/on/always':>14}   {_verdict(ratios['durable_ok'])}",
        _row(
            f"rebuild, all {partitions} partitions at once (events/s)",
            ratios["rebuild_events_per_s"],
            ",.0f",
            f">= {TARGET_REBUILD_EVENTS_PER_S:,.0f}",
            ratios["rebuild_ok"],
        ),
        _row(
            "rebuild, one partition process (events/s)",
            ratios["rebuild_one_partition_events_per_s"],
            ",.0f",
            f">= {TARGET_REBUILD_ONE_PARTITION_EVENTS_PER_S:,.0f}",
            ratios["rebuild_one_partition_ok"],
        ),
        _row(
            f"events per CPU-second (all processes), {partitions} partitions / 1",
            ratios["cpu_efficiency_ratio"],
            ".2f",
            f"{1 - tolerance:.2f}..{1 + tolerance:.2f}",
            ratios["cpu_efficiency_ok"],
        ),
        _row(
            f"live lag p99 @ {options['rate']:,.0f} events/s, {one_how} (ms)",
            ratios["lag_p99_ms"],
            ".1f",
            f"< {TARGET_LAG_P99_S * 1000:.0f}",
            ratios["lag_ok"],
            ran=report.get("live") is not None,
        ),
        _row(
            fast_label,
            ratios["fast_lag_p99_ms"],
            ".1f",
            f"< {TARGET_FAST_LAG_P99_S * 1000:.0f}",
            ratios["fast_lag_ok"],
            ran=report.get("live_fast") is not None,
        ),
        _row(
            "peak memory big/small log, rebuild (highest partition process)",
            ratios["memory_ratio"],
            ".2f",
            f"<= {TARGET_MEMORY_RATIO:.2f}",
            ratios["memory_ok"],
        ),
        _row(
            "peak memory big/small log, live projector",
            ratios["live_memory_ratio"],
            ".2f",
            f"<= {TARGET_MEMORY_RATIO:.2f}",
            ratios["live_memory_ok"],
        ),
        _info(
            f"  appended @ {options['rate']:,.0f} events/s offered (events/s)",
            ratios["appended_per_s"],
            ",.0f",
        ),
        _info(
            f"  appended @ {options['fast_rate']:,.0f} events/s offered (events/s)",
            ratios["fast_appended_per_s"],
            ",.0f",
        ),
        _info("  events per CPU-second, all partitions", ratios["events_per_cpu_s"], ",.0f"),
        _info(
            "  events per CPU-second, one partition",
            ratios["events_per_cpu_s_one_partition"],
            ",.0f",
        ),
        _info(f"  relay p99 @ {options['rate']:,.0f} events/s (ms)", ratios["relay_p99_ms"], ".1f"),
        _info("  relay's share of the lag p99", ratios["relay_share_p99"], ".0%"),
        _info(
            f"  relay p99 @ {options['fast_rate']:,.0f} events/s (ms)",
            ratios["fast_relay_p99_ms"],
            ".1f",
        ),
        _info("  relay's share of the lag p99", ratios["fast_relay_share_p99"], ".0%"),
        _info(
            f"  lag p99 by checkpoint poll @ {options['rate']:,.0f} events/s (ms)",
            ratios["poll_p99_ms"],
            ".1f",
        ),
        _info(
            f"  lag p99 by checkpoint poll @ {options['fast_rate']:,.0f} events/s (ms)",
            ratios["fast_poll_p99_ms"],
            ".1f",
        ),
        _info(
            "  peak memory big/small, rebuild, partition processes summed",
            ratios["memory_sum_ratio"],
            ".2f",
        ),
        _info(
            "  peak memory big/small, rebuild in one partition",
            ratios["memory_one_partition_ratio"],
            ".2f",
        ),
        _info("  (b)/(a) rebuild vs HTTP NDJSON read", ratios["b_over_a_ndjson"], ".2f"),
        _info("  (b)/(a) rebuild vs DB scan", ratios["b_over_a_db_scan"], ".2f"),
    ]
    for live in live_runs:
        if live.log == "big" and not _rate_reached(live):
            lines.append(
                f"note: at {live.target_rate:,.0f} events/s offered the ledger took"
                f" {_ratio(live.appended, live.seconds):,.0f} events/s (late sends"
                f" {live.late_sends:,}): the phase did not run at its rate, so its lag is a MISS"
            )
    if any(live.metric_count == 0 and live.appended for live in live_runs):
        lines.append(
            "note: projector_lag_seconds observes the events JetStream delivers, not those a"
            " worker gap-fills from the ledger: a phase with no observation ('none') had every"
            " event gap-filled (the relay was behind); the checkpoint poll covers every event"
        )
    if log_facts.events != TARGET_EVENTS or log_facts.learners != TARGET_LEARNERS:
        lines.append(
            f"note: the targets are set for {TARGET_EVENTS:,} events / {TARGET_LEARNERS:,}"
            f" learners; this log has {log_facts.events:,} / {log_facts.learners:,}"
        )
    repeats = max((r.run for r in rebuilds), default=0) + 1
    if repeats > 1:
        lines.append(f"note: rebuild figures are medians of {repeats} runs per layout")
    phases = [*report["reads"], *rebuilds, *live_runs]
    busy = max((phase.cpu_cores.get("other", 0.0) for phase in phases), default=0.0)
    if busy >= SHARED_MACHINE_CORES:
        lines.append(
            f"note: up to {busy:.2f} cores went to other processes during a phase ('other'):"
            " the machine was shared, and rates are lower than on an idle one."
        )
    profiled = [(r.label, r.profiles) for r in rebuilds]
    profiled += [(f"(c) live @ {r.target_rate:,.0f}/s, {r.log} log", r.profiles) for r in live_runs]
    for phase_label, profiles in profiled:
        for profile in profiles:
            lines += [
                "",
                f"py-spy, {profile.process} process during {phase_label}"
                f" ({profile.samples:,} samples at {PROFILE_RATE_HZ} Hz = CPU; {profile.path}):",
                "  innermost frames:",
                *(f"    {share * 100:5.1f} %  {frame}" for frame, share in profile.self_top),
                "  project frames anywhere on the stack:",
                *(
                    f"    {share * 100:5.1f} %  {frame}"
                    for frame, share in profile.project_inclusive_top
                ),
            ]
    return "\n".join(lines)
