"""The audit benchmark: chain verification, Merkle proofs and tree-head signing at scale.

    .venv/bin/python -m bench.audit_bench [--events N] [--repeat N] [--json PATH]

In a fresh embedded PostgreSQL (temporary directory, removed afterwards), COPY loads N
events (default 1,000,000) with realistic JSON (passes with their catalog snapshot,
certificates, revocations, redemptions; 100,000 learners; group-commit timestamps) and a
valid hash chain, then measures:

- chain verification from the database (``audit verify``'s own code path) in events/s,
  against two baselines over the same events: (a) a bare hashlib loop,
  ``h = sha256(h + canonical)``, over the canonical bytes already in memory (the target
  names this one: >= 0.5), and (b) the same COPY query with a bare hashlib loop over each
  row's bytes as PostgreSQL sends them (the floor of any verifier reading this database);
- chain verification from an NDJSON export of the log, against a bare hashlib loop over
  the lines of the same file;
- the TreeBuilder's build rate (the real ``build_step``), then inclusion and consistency
  proof latency p50/p99 at tree size N, from the service function (one query) and
  through the HTTP API (``create_app`` in-process, auditor key);
- tree-head signing: the Ed25519 signature alone, and a whole signed head (state, root
  nodes, insert) as ``POST /v1/audit/tree-heads`` does it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.audit.eventlog import (
    TARGET_EVENTS_PER_S,
    TARGET_PROOF_P99_MS,
    TARGET_RAW_RATIO,
    load_log,
    log,
)
from bench.audit.proofs import http_proof_latency, proof_latency, signing_time
from bench.audit.verify import (
    build_tree,
    file_verify_rate,
    raw_copy_rate,
    raw_file_rate,
    raw_hash_rate,
    verify_rate,
    write_export,
)
from bench.harness.sysinfo import machine_facts
from credit_ledger.embedded.postgres import EmbeddedPostgres
from credit_ledger.infra import apply_migrations
from services.common.logs import configure_logging
from services.ledger.audit.signing import create_key_file


def best(values: list[float]) -> float:
    return max(values)


async def run(url: str, events: int, repeat: int, workdir: Path) -> dict[str, Any]:
    await apply_migrations(url)
    canonicals = await load_log(url, events)
    report: dict[str, Any] = {
        "events": events,
        "machine": machine_facts(),
        "load_average_start": os.getloadavg(),
    }

    log("baseline (a): hashlib over the canonical bytes in memory")
    raw = [raw_hash_rate(canonicals) for _ in range(repeat)]
    mean_bytes = statistics.fmean(len(c) for c in canonicals)
    del canonicals
    log("baseline (b): the same COPY, hashing the bytes PostgreSQL sends")
    copy_raw = [await raw_copy_rate(url) for _ in range(repeat)]
    log("audit verify (database)")
    verified = [await verify_rate(url, events) for _ in range(repeat)]
    report["verify_db"] = {
        "events_per_s": verified,
        "raw_hash_events_per_s": raw,
        "raw_copy_events_per_s": copy_raw,
        "canonical_bytes_mean": mean_bytes,
        "ratio_to_raw_hash": best(verified) / best(raw),
        "ratio_to_raw_copy": best(verified) / best(copy_raw),
    }

    export = workdir / "export.ndjson"
    log("writing the NDJSON export (the ledger's reader and encoder)")
    await write_export(url, export)
    log("audit verify --file")
    file_raw = [raw_file_rate(export) for _ in range(repeat)]
    file_verified = [file_verify_rate(export, events) for _ in range(repeat)]
    report["verify_file"] = {
        "events_per_s": file_verified,
        "raw_hash_lines_per_s": file_raw,
        "bytes": export.stat().st_size,
        "ratio_to_raw_hash": best(file_verified) / best(file_raw),
    }
    export.unlink()

    log("building the Merkle tree (TreeBuilder steps)")
    report["tree_build"] = await build_tree(url, events)
    log("proof latency (service function)")
    report["proofs"] = await proof_latency(url, events)
    key_file = workdir / "tree-signing-key.pem"
    create_key_file(key_file)
    log("proof latency (HTTP)")
    report["proofs_http"] = await http_proof_latency(url, events, key_file)
    log("tree-head signing")
    report["signing"] = await signing_time(url, key_file)
    report["load_average_end"] = os.getloadavg()
    return report


def render(report: dict[str, Any]) -> str:
    db_v, file_v = report["verify_db"], report["verify_file"]

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rate = best(db_v["events_per_s"])
    lines = [
        f"audit benchmark: {report['events']:,} events, mean canonical size "
        f"{db_v['canonical_bytes_mean']:.0f} bytes; {report['machine']['nproc']} CPUs "
        f"({report['machine']['cpu_model']}); load average at start "
        f"{report['load_average_start'][0]:.2f}, at end {report['load_average_end'][0]:.2f}",
        "",
        "chain verification                         events/s   (best of runs)",
        f"  audit verify (database)                 {rate:>10,.0f}   {verdict(rate >= TARGET_EVENTS_PER_S)} (target >= {TARGET_EVENTS_PER_S:,})",
        f"  (a) hashlib over canonical bytes        {best(db_v['raw_hash_events_per_s']):>10,.0f}   ratio {db_v['ratio_to_raw_hash']:.2f} {verdict(db_v['ratio_to_raw_hash'] >= TARGET_RAW_RATIO)} (target >= {TARGET_RAW_RATIO})",
        f"  (b) same COPY + hashlib over rows       {best(db_v['raw_copy_events_per_s']):>10,.0f}   ratio {db_v['ratio_to_raw_copy']:.2f} {verdict(db_v['ratio_to_raw_copy'] >= TARGET_RAW_RATIO)}",
        f"  audit verify --file (NDJSON export)     {best(file_v['events_per_s']):>10,.0f}",
        f"  hashlib over the export's lines         {best(file_v['raw_hash_lines_per_s']):>10,.0f}   ratio {file_v['ratio_to_raw_hash']:.2f}",
        "",
        f"tree build (TreeBuilder steps)            {report['tree_build']['leaves_per_s']:>10,.0f} leaves/s,"
        f" {report['tree_build']['process_cpu_us_per_leaf']:.1f} us of the builder process's CPU per leaf",
        "",
        f"proofs at tree size {report['events']:,}               p50 ms    p99 ms    max ms",
    ]
    for source, label in (("proofs", "service"), ("proofs_http", "HTTP")):
        for kind, figures in report[source].items():
            ok = verdict(figures["p99_ms"] < TARGET_PROOF_P99_MS)
            lines.append(
                f"  {kind:<12} ({label:<7})              {figures['p50_ms']:>8.2f}  {figures['p99_ms']:>8.2f}  {figures['max_ms']:>8.2f}   {ok} (p99 < {TARGET_PROOF_P99_MS} ms)"
            )
    lines.append("")
    lines.append("tree-head signing                         p50 ms    p99 ms")
    for kind, figures in report["signing"].items():
        lines.append(f"  {kind:<38}  {figures['p50_ms']:>8.3f}  {figures['p99_ms']:>8.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput figure")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--data-dir", type=Path, help="where the embedded PostgreSQL keeps its data"
    )
    options = parser.parse_args(argv)
    configure_logging("warning", "console")
    if not 1 <= options.events <= 50_000_000 or not 1 <= options.repeat <= 10:
        parser.error("--events must be in 1..50,000,000 and --repeat in 1..10")
    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=options.data_dir))
    postgres = EmbeddedPostgres(workdir / "postgres", fsync=True)
    try:
        postgres.start()
        report = asyncio.run(run(postgres.url, options.events, options.repeat, workdir))
    finally:
        postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(report))
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
