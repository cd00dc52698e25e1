"""What a rebuild reports as it goes: a progress bar per partition, CPU time per stage."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from proto.partitions import Partition


@dataclass
class StageClock:
    """CPU seconds of this process per stage of a rebuild (what the benchmark reports).

    The stages of one partition overlap in time (reading ahead, folding and writing run as
    tasks of one event loop), so a stage is charged only the synchronous work it did, timed
    around that work."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def progress_bar(
    total: int, desc: str, unit: str, progress: bool, partition: Partition
) -> tqdm[Any]:
    # One line per partition: the rebuilds of all partitions run side by side.
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        disable=not progress,
        file=sys.stderr,
        position=partition.index,
    )
