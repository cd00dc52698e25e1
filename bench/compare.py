"""Side-by-side benchmark runs of two checkouts, and the ratio of their medians.

    .venv/bin/python -m bench.compare BASELINE_DIR CANDIDATE_DIR [--runs 3] [--only ledger,...]

Each benchmark runs ``--runs`` times per checkout, the two checkouts alternating (baseline,
candidate, baseline, ...) so that a noisy neighbour hurts both alike. A checkout is any
directory holding the project (``git worktree add /tmp/base <commit>`` makes one); its code
is what runs, with this virtual environment's packages. Every numeric figure of the
benchmarks' ``--json`` output is reduced to its median over the runs; the report lists, per
figure, both medians and candidate / baseline, and flags a ratio outside ±``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCHMARKS: dict[str, list[str]] = {
    "ledger": ["-m", "bench.ledger_bench", "--quick"],
    "projector": ["-m", "bench.projector_bench", "--quick"],
    "issuer": ["-m", "bench.issuer_bench", "--quick"],
    "audit": ["-m", "bench.audit_bench", "--events", "20000", "--repeat", "1"],
}


def numeric_leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from numeric_leaves(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from numeric_leaves(child, f"{prefix}[{index}]")


def run_once(checkout: Path, name: str, out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, *BENCHMARKS[name], "--json", str(out)]
    print(f"$ (cd {checkout} && {' '.join(command[1:])})", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(numeric_leaves(json.loads(out.read_text())))


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(r) for r in runs))
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def report(name: str, base: dict[str, float], cand: dict[str, float], tolerance: float) -> str:
    lines = [f"## {name}", "figure | baseline | candidate | ratio", "--- | --- | --- | ---"]
    for key in sorted(set(base) & set(cand)):
        b, c = base[key], cand[key]
        ratio = c / b if b else float("nan") if c else 1.0
        flag = " (!)" if b and abs(ratio - 1) > tolerance else ""
        lines.append(f"{key} | {b:.6g} | {c:.6g} | {ratio:.3f}{flag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--out", type=Path, help="keep every run's JSON and the report here")
    options = parser.parse_args(argv)
    names = [n for n in options.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not 1 <= options.runs <= 9:
        parser.error(f"--only takes {sorted(BENCHMARKS)}; --runs is 1..9")
    out = options.out or Path(tempfile.mkdtemp(prefix="bench-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for name in names:
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "candidate": []}
        for index in range(options.runs):
            for side, checkout in (
                ("baseline", options.baseline),
                ("candidate", options.candidate),
            ):
                path = out / f"{name}-{side}-{index + 1}.json"
                runs[side].append(run_once(checkout.resolve(), name, path))
        sections.append(
            report(name, medians(runs["baseline"]), medians(runs["candidate"]), options.tolerance)
        )
        (out / "report.md").write_text("\n\n".join(sections) + "\n")
    print("\n\n".join(sections))
    print(f"\nruns and report kept in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
