"""The write-path benchmark's text report."""

from __future__ import annotations

import os
from typing import Any

from bench.harness.report import verdict as _verdict
from bench.ledger.models import PhaseResult, RelayResult
from bench.ledger.targets import (
    DRAIN_MIN_EVENTS,
    DRAIN_MIN_S,
    Check,
    cpu_per_append_us,
    kept_up_per_s,
)

# --- report -------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    phases: dict[str, PhaseResult] = report["phases"]
    relay: RelayResult = report["relay"]
    facts = report["machine"]
    db = report["database"]
    lines = [
        "Credit ledger write-path benchmark",
        f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), Python {facts['python']},"
        f" PostgreSQL {db['server_version']} (fsync={db['fsync']},"
        f" synchronous_commit={db['synchronous_commit']}, wal_sync_method={db['wal_sync_method']}),"
        f" data on {report['data_filesystem']}"
        f" (8 kB write + fdatasync: {report['fdatasync_us']:.0f} us)",
        f"ledger: credit-ledger serve, {_workers()} HTTP process(es), the relay and the tree"
        f" builder in processes of their own (their CPU is the server's);"
        f" HTTP client: {report['options']['client_kind']};"
        f" {report['options']['seconds']:g} s per phase, {report['options']['repeat']} run(s),"
        " rates are medians",
        "",
        f"{'scenario':<40}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"   CPU cores: {'server':>6}{'loadgen':>8}{'pg':>6}{'nats':>6}{'irq':>6}{'other':>6}",
    ]
    for key in ("a_raw_insert", "b_http_single", "c_http_batch", "d_copy"):
        phase = phases[key]
        cores = phase.cpu_cores
        lines.append(
            f"{phase.label:<40}{phase.events_per_s:>10,.0f}{phase.requests_per_s:>9,.0f}"
            f"{phase.p50_ms:>9.2f}{phase.p99_ms:>9.2f}{phase.errors:>8}"
            f"              {cores.get('server', 0):>6.2f}{cores.get('loadgen', 0):>8.2f}"
            f"{cores.get('postgres', 0):>6.2f}{cores.get('nats', 0):>6.2f}"
            f"{cores.get('irq', 0):>6.2f}{cores.get('other', 0):>6.2f}"
        )
    load = relay.load
    cores = load.cpu_cores
    lines += [
        f"{load.label:<40}{load.events_per_s:>10,.0f}{load.requests_per_s:>9,.0f}"
        f"{load.p50_ms:>9.2f}{load.p99_ms:>9.2f}{load.errors:>8}"
        f"              {cores.get('server', 0):>6.2f}{cores.get('loadgen', 0):>8.2f}"
        f"{cores.get('postgres', 0):>6.2f}{cores.get('nats', 0):>6.2f}"
        f"{cores.get('irq', 0):>6.2f}{cores.get('other', 0):>6.2f}",
        "",
        f"relay lag, commit -> JetStream ack (ledger_relay_lag_seconds, {relay.metric_count} events):"
        f" p50 {relay.metric_p50_ms:.1f} ms, p99 {relay.metric_p99_ms:.1f} ms,"
        f" {relay.metric_share_within_50ms * 100:.2f} % within 50 ms",
        f"relay lag, commit -> subscriber receipt ({relay.subscriber_count} events):"
        f" p50 {relay.subscriber_p50_ms:.1f} ms, p99 {relay.subscriber_p99_ms:.1f} ms,"
        f" max {relay.subscriber_max_ms:.1f} ms",
        "",
        _peer_line(report.get("peer")),
    ]
    lines += _check_lines(report["checks"])
    lines.append("")
    for phase in (phases["b_http_single"], phases["c_http_batch"], load):
        if phase.server_cores:
            lines.append(_server_line(phase))
    for phase in (phases["b_http_single"], phases["c_http_batch"], load):
        if phase.group_commits:
            lines.append(
                f"{phase.label}: {phase.group_commits} group commits, mean"
                f" {phase.mean_group_events:.1f} events and {phase.mean_group_commit_ms:.1f} ms"
                f" each; queue->commit mean {phase.mean_append_queue_to_commit_ms:.1f} ms"
            )
    ceiling = report.get("publish_ceiling_per_s")
    for phase in (phases["b_http_single"], phases["c_http_batch"]):
        if phase.relay_backlog_after >= DRAIN_MIN_EVENTS and phase.relay_drain_s >= DRAIN_MIN_S:
            drain = phase.relay_backlog_after / max(phase.relay_drain_s, 1e-3)
            against = f"; {drain / ceiling:.2f} of the ceiling" if ceiling else ""
            lines.append(
                f"{phase.label}: the relay was {phase.relay_backlog_after} events behind at the"
                f" end and drained them in {phase.relay_drain_s:.1f} s"
                f" (~{drain:,.0f} events/s, with no load{against})"
            )
        elif phase.events >= DRAIN_MIN_EVENTS:
            kept = kept_up_per_s(phase)
            against = f"; {kept / ceiling:.2f} of the ceiling" if ceiling else ""
            lines.append(
                f"{phase.label}: the relay kept up ({phase.relay_backlog_after} events behind"
                f" at the end), publishing ~{kept:,.0f} events/s while the phase ran{against}"
            )
    if ceiling:
        lines.append(
            f"relay's ceiling: a raw publish_async burst (1,000 in flight, one connection) into a"
            f" stream configured like LEDGER: {ceiling:,.0f} messages/s"
        )
    imported = report.get("import")
    if imported is not None:
        lines.append(
            f"(e) CSV import: {imported.recorded:,} of {imported.rows:,} rows recorded in"
            f" {imported.seconds:.1f} s, {imported.rows_per_s:,.0f} rows/s (credit-ledger import"
            f" passes, batches of 1,000, 4 in flight, exit status {imported.exit_status})"
        )
    notes = []
    for key in ("a_raw_insert", "b_http_single", "c_http_batch", "d_copy"):
        phase = phases[key]
        if len(phase.rates) > 1:
            notes.append(f"{phase.label}: rates {', '.join(f'{r:,.0f}' for r in phase.rates)}")
        if phase.first_error:
            notes.append(f"{phase.label}: first error: {phase.first_error}")
    if load.late_sends:
        notes.append(f"relay load: {load.late_sends} sends found no free connection on time")
    if load.first_error:
        notes.append(f"relay load: first error: {load.first_error}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _workers() -> str:
    """The ledger's HTTP processes: CREDIT_LEDGER_WORKERS, which the server inherits."""
    return os.environ.get("CREDIT_LEDGER_WORKERS", "1")


def _check_lines(checks: list[Check]) -> list[str]:
    lines = ["", f"{'check':<44}{'value':>10}{'target':>12}   verdict"]
    for check in checks:
        value = "n/a" if check.value is None else f"{check.value:,.{check.digits}f}"
        lines.append(f"{check.label:<44}{value:>10}{check.target:>12}   {_verdict(check.met)}")
    return lines


def _peer_line(peer: dict[str, Any] | None) -> str:
    """eventsourcing on the same PostgreSQL in the same run."""
    if peer is None:
        return "peer (eventsourcing): not run"
    if "error" in peer:
        return f"peer (eventsourcing): {peer['error']}"
    return (
        f"peer, eventsourcing {peer.get('version', '?')} on the same PostgreSQL, same run:"
        f" serial save {peer['serial']:,.0f}, 16 threads {peer['threads16']:,.0f},"
        f" batches of 1000 {peer['batch1000']:,.0f} events/s"
    )


def _server_line(phase: PhaseResult) -> str:
    split = ", ".join(f"{name} {cores:.2f}" for name, cores in phase.server_cores.items())
    return (
        f"{phase.label}: the ledger used {phase.cpu_cores.get('server', 0):.2f} cores"
        f" ({split}), {cpu_per_append_us(phase):,.0f} us per event"
    )
