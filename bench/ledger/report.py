"""The write-path benchmark's text report."""

from __future__ import annotations

import os
from typing import Any

from bench.harness.report import verdict as _verdict
from bench.ledger.models import TARGET_BATCH_RATIO, TARGET_SINGLE_RATIO, PhaseResult, RelayResult

# --- report -------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    phases: dict[str, PhaseResult] = report["phases"]
    relay: RelayResult = report["relay"]
    ratios = report["ratios"]
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
        f"{'check':<44}{'value':>10}{'target':>12}   verdict",
        f"{'(b)/(a) HTTP single vs raw INSERT+commit':<44}{ratios['b_over_a']:>10.2f}"
        f"{'>= ' + format(TARGET_SINGLE_RATIO, '.1f'):>12}   {_verdict(ratios['b_over_a'] >= TARGET_SINGLE_RATIO)}",
        f"{'(c)/(d) HTTP batch vs raw COPY':<44}{ratios['c_over_d']:>10.2f}"
        f"{'>= ' + format(TARGET_BATCH_RATIO, '.1f'):>12}   {_verdict(ratios['c_over_d'] >= TARGET_BATCH_RATIO)}",
        f"{'relay lag p99 at ' + format(relay.target_rate, '.0f') + ' events/s (ms)':<44}"
        f"{relay.metric_p99_ms:>10.1f}{'< 50':>12}   {_verdict(ratios['relay_ok'])}",
    ]
    lines += _peer_lines(report.get("peer"), phases)
    lines.append("")
    for phase in (phases["b_http_single"], phases["c_http_batch"], load):
        if phase.group_commits:
            lines.append(
                f"{phase.label}: {phase.group_commits} group commits, mean"
                f" {phase.mean_group_events:.1f} events and {phase.mean_group_commit_ms:.1f} ms"
                f" each; queue->commit mean {phase.mean_append_queue_to_commit_ms:.1f} ms"
            )
    ceiling = report.get("publish_ceiling_per_s")
    for phase in (phases["b_http_single"], phases["c_http_batch"]):
        if phase.relay_backlog_after >= 1000 and phase.relay_drain_s >= 1.0:
            drain = phase.relay_backlog_after / max(phase.relay_drain_s, 1e-3)
            against = f"; {drain / ceiling:.2f} of the ceiling" if ceiling else ""
            lines.append(
                f"{phase.label}: the relay was {phase.relay_backlog_after} events behind at the"
                f" end and drained them in {phase.relay_drain_s:.1f} s"
                f" (~{drain:,.0f} events/s, with no load{against})"
            )
    if ceiling:
        lines.append(
            f"relay's ceiling: a raw publish_async burst (1,000 in flight, one connection) into a"
            f" stream configured like LEDGER: {ceiling:,.0f} messages/s"
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


def _peer_lines(peer: dict[str, Any] | None, phases: dict[str, PhaseResult]) -> list[str]:
    """eventsourcing on the same PostgreSQL in the same run, and our ratios against it."""
    if peer is None:
        return ["", "peer (eventsourcing): not run"]
    if "error" in peer:
        return ["", f"peer (eventsourcing): {peer['error']}"]
    single, batch = phases["b_http_single"].events_per_s, phases["c_http_batch"].events_per_s
    return [
        "",
        f"peer, eventsourcing {peer.get('version', '?')} on the same PostgreSQL, same run:"
        f" serial save {peer['serial']:,.0f}, 16 threads {peer['threads16']:,.0f},"
        f" batches of 1000 {peer['batch1000']:,.0f} events/s",
        f"{'(b) HTTP single / peer 16 threads':<44}{single / max(peer['threads16'], 1e-9):>10.2f}",
        f"{'(c) HTTP batch / peer batches of 1000':<44}{batch / max(peer['batch1000'], 1e-9):>10.2f}",
    ]
