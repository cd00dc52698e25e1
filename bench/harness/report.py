"""What every benchmark prints and writes: progress lines, ratios, verdicts, the JSON file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec


def progress_logger(name: str) -> Callable[[str], None]:
    """A function printing ``[name HH:MM:SS] message`` to stderr."""

    def log(message: str) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    return log


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def write_json(path: Path, report: Any) -> None:
    """Every figure, indented, msgspec structs included."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
