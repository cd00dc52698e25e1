"""Facts about the machine, CPU time of process trees (from /proc), and percentiles."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (every thread's, from /proc/<pid>/task/*/children;
    a scan of /proc where the kernel lacks that file)."""
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            pids.extend(
                int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            )
        except FileNotFoundError:
            return _children_map().get(pid, [])
        except (OSError, ValueError):
            continue
    return pids


def tree_pids(root_pid: int) -> list[int]:
    """``root_pid`` and its live descendants."""
    children = _children_map()
    pids: list[int] = []
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def status_kb(pid: int | str, field_name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), 0 when absent (a zombie has none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_cpu_seconds(root_pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds (user + system) of a process, its live descendants and its reaped ones.

    A process's cutime/cstime hold the CPU of the children it has waited for, which are no
    longer in the tree, so nothing is counted twice. Not counted: a descendant that
    outlived its parent (re-parented to init) and one that exited while its parent
    ignored SIGCHLD (never waited for).
    """
    children = _children_map() if children is None else children
    total = 0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # Fields 14-17 of stat(5): utime, stime, cutime, cstime; we dropped the first two.
        total += sum(int(value) for value in fields[11:15])
        stack.extend(children.get(pid, []))
    return total / _TICKS


MACHINE = "machine"
IRQ = "irq"


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, irq) CPU seconds of the whole machine, all cores.

    busy is user + nice + system + steal, which processes (kernel threads included) are
    charged for; irq is hard + soft interrupt time, which no process is charged for (the
    loopback network stack runs much of its work there).
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0, 0.0
    ticks = [int(value) for value in fields[:8]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + steal) / _TICKS, (irq + softirq) / _TICKS


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of one process alone (not its children)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_snapshot(roots: dict[str, int], singles: dict[str, int] | None = None) -> dict[str, float]:
    """CPU seconds of each named process tree, of each named single process, and of the
    whole machine (MACHINE, IRQ)."""
    children = _children_map()
    snapshot = {name: tree_cpu_seconds(pid, children) for name, pid in roots.items()}
    for name, pid in (singles or {}).items():
        snapshot[name] = process_cpu_seconds(pid)
    snapshot[MACHINE], snapshot[IRQ] = machine_busy_seconds()
    return snapshot


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: Path) -> str:
    """'<device> <fstype>' of the mount holding ``path`` (longest mount-point prefix)."""
    best = ("", "unknown", "unknown")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount_point, fstype = parts[0], parts[1], parts[2]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, device, fstype)
    return f"{best[1]} {best[2]}"


def machine_facts() -> dict[str, str]:
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[rank]


def fdatasync_probe_us(folder: Path, seconds: float = 1.0, max_ops: int = 20_000) -> float:
    """Mean microseconds of one 8 kB write + fdatasync in ``folder`` (what a WAL flush costs).

    A disk (or a virtual disk with a write-back cache on the host) that answers in tens of
    microseconds makes per-commit durability cheap, which raises the raw baselines.
    """
    path = folder / "fdatasync-probe.bin"
    block = os.urandom(8192)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        ops = 0
        started = time.perf_counter()
        deadline = started + seconds
        while ops < max_ops and time.perf_counter() < deadline:
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            ops += 1
        return (time.perf_counter() - started) / max(ops, 1) * 1e6
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


@dataclass
class Machine:
    roots: dict[str, int] = field(default_factory=dict)

    def snapshot(self, extra: dict[str, int] | None = None) -> dict[str, float]:
        return cpu_snapshot({**self.roots, **(extra or {})}, {"coordinator": os.getpid()})


def cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU cores per process tree over a window; ``other`` is everything else on the box."""
    seconds = max(seconds, 1e-6)
    result = {
        name: (after[name] - before[name]) / seconds
        for name in before
        if name in after and name not in (MACHINE, IRQ)
    }
    machine = (after.get(MACHINE, 0.0) - before.get(MACHINE, 0.0)) / seconds
    result["other"] = max(0.0, machine - sum(result.values()))
    result["irq"] = (after.get(IRQ, 0.0) - before.get(IRQ, 0.0)) / seconds
    return result
