"""py-spy on a process during a phase (collapsed stacks), and where its samples went."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

import msgspec

from bench.harness.servers import REPO_ROOT

PROFILE_TOP = 14
_LINE_NUMBER = re.compile(r":\d+\)$")


class ProfileSummary(msgspec.Struct, kw_only=True):
    process: str
    path: str
    samples: int
    # (frame, share of samples): where the CPU went, by the innermost frame and by any
    # frame of the project's own code on the stack.
    self_top: list[tuple[str, float]]
    project_inclusive_top: list[tuple[str, float]]


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start(
    pid: int,
    output: Path,
    rate_hz: int,
    duration_s: int | None = None,
    *,
    subprocesses: bool = False,
) -> asyncio.subprocess.Process | None:
    """``py-spy record`` of ``pid`` (and, with ``subprocesses``, of the processes it starts)
    into ``output``; None (and a warning) without py-spy."""
    binary = py_spy()
    if binary is None:
        print(
            "--profile needs py-spy in the venv (pip install py-spy); not profiling",
            file=sys.stderr,
        )
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    options = ["--duration", str(duration_s)] if duration_s is not None else []
    if subprocesses:
        options.append("--subprocesses")
    return await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        *options,
        "--rate",
        str(rate_hz),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    """py-spy writes its output on SIGINT (or by itself when the target exits)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def summarize(process: str, path: Path) -> ProfileSummary | None:
    """Shares of samples by innermost frame, and by project frame anywhere on the stack."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    root = str(REPO_ROOT)
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE_NUMBER.sub(")", f.replace(root + "/", "")) for f in stack.split(";")]
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            if "(services/" in frame or "(domain/" in frame:
                inclusive[frame] += count
    if total == 0:
        return None
    return ProfileSummary(
        process=process,
        path=str(path),
        samples=total,
        self_top=[(f, c / total) for f, c in self_counts.most_common(PROFILE_TOP)],
        project_inclusive_top=[(f, c / total) for f, c in inclusive.most_common(PROFILE_TOP)],
    )
