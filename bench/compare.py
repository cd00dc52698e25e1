"""Side-by-side benchmark runs of two checkouts, and the ratio of their medians.

    .venv/bin/python -m bench.compare BASELINE_DIR CANDIDATE_DIR [--runs 3] [--only ledger,...]

Each benchmark runs ``--runs`` times per checkout, the two checkouts alternating (baseline,
candidate, baseline, ...) so that a noisy neighbour hurts both alike. A checkout is any
directory holding the project (``git worktree add /tmp/base <commit>`` makes one); its code
is what runs, with this virtual environment's packages. Every numeric figure of the
benchmarks' ``--json`` output (those ``--keys`` finds) is reduced to its median over the
runs; the report lists, per figure, both medians with their range (the range of one side
alone shows how noisy the machine was) and candidate / baseline, flagging a ratio outside
±``--tolerance``. ``--report-only`` reports runs kept in ``--out`` again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Smoke-sized runs, and (--long) runs long enough that the figures rise above the noise of
# a shared machine; the projector's full run (1M events) takes too long to repeat.
BENCHMARKS: dict[str, list[str]] = {
    "ledger": ["-m", "bench.ledger_bench", "--quick"],
    "projector": ["-m", "bench.projector_bench", "--quick"],
    "issuer": ["-m", "bench.issuer_bench", "--quick"],
    "audit": ["-m", "bench.audit_bench", "--events", "20000", "--repeat", "1"],
}
LONG_BENCHMARKS: dict[str, list[str]] = {
    "ledger": ["-m", "bench.ledger_bench"],
    "projector": ["-m", "bench.projector_bench", "--quick"],
    "issuer": ["-m", "bench.issuer_bench"],
    "audit": ["-m", "bench.audit_bench", "--events", "200000", "--repeat", "3"],
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


def run_once(checkout: Path, arguments: list[str], out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, *arguments, "--json", str(out)]
    print(f"$ (cd {checkout} && {' '.join(command[1:])})", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(numeric_leaves(json.loads(out.read_text())))


def spread(runs: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    """(median, min, max) of each figure every run reported."""
    keys = set.intersection(*(set(r) for r in runs))
    return {
        k: (statistics.median(r[k] for r in runs), min(r[k] for r in runs), max(r[k] for r in runs))
        for k in keys
    }


def report(
    name: str,
    base: dict[str, tuple[float, float, float]],
    cand: dict[str, tuple[float, float, float]],
    tolerance: float,
    keys: re.Pattern[str],
) -> str:
    lines = [
        f"## {name}",
        "figure | baseline median (min–max) | candidate median (min–max) | ratio of medians",
        "--- | --- | --- | ---",
    ]
    for key in sorted(k for k in set(base) & set(cand) if keys.search(k)):
        (b, b_lo, b_hi), (c, c_lo, c_hi) = base[key], cand[key]
        ratio = c / b if b else float("nan") if c else 1.0
        flag = " (!)" if b and abs(ratio - 1) > tolerance else ""
        lines.append(
            f"{key} | {b:.6g} ({b_lo:.4g}–{b_hi:.4g}) | {c:.6g} ({c_lo:.4g}–{c_hi:.4g})"
            f" | {ratio:.3f}{flag}"
        )
    return "\n".join(lines)


def from_kept_runs(out: Path, name: str, runs: int) -> dict[str, list[dict[str, float]]]:
    return {
        side: [
            dict(numeric_leaves(json.loads((out / f"{name}-{side}-{i + 1}.json").read_text())))
            for i in range(runs)
        ]
        for side in ("baseline", "candidate")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--long", action="store_true", help="the longer runs (LONG_BENCHMARKS)")
    parser.add_argument("--out", type=Path, help="keep every run's JSON and the report here")
    parser.add_argument(
        "--keys", default=r"^(?!options\.)", help="a regex: report only the figures it finds"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="report the runs kept in --out, run nothing"
    )
    options = parser.parse_args(argv)
    names = [n for n in options.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not 1 <= options.runs <= 9:
        parser.error(f"--only takes {sorted(BENCHMARKS)}; --runs is 1..9")
    if options.report_only and options.out is None:
        parser.error("--report-only reads the runs kept in --out")
    out = options.out or Path(tempfile.mkdtemp(prefix="bench-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    keys = re.compile(options.keys)
    sections = []
    for name in names:
        if options.report_only:
            try:
                runs = from_kept_runs(out, name, options.runs)
            except FileNotFoundError as missing:
                parser.error(f"--report-only: no kept run {missing.filename}")
        else:
            runs = {"baseline": [], "candidate": []}
            for index in range(options.runs):
                for side, checkout in (
                    ("baseline", options.baseline),
                    ("candidate", options.candidate),
                ):
                    path = out / f"{name}-{side}-{index + 1}.json"
                    arguments = (LONG_BENCHMARKS if options.long else BENCHMARKS)[name]
                    runs[side].append(run_once(checkout.resolve(), arguments, path))
        base, cand = spread(runs["baseline"]), spread(runs["candidate"])
        sections.append(report(name, base, cand, options.tolerance, keys))
        (out / "report.md").write_text("\n\n".join(sections) + "\n")
    print("\n\n".join(sections))
    print(f"\nruns and report kept in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
