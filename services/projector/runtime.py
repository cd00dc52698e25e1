"""Everything the projector's handlers need, owned by its lifespan."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg
from litestar.di import NamedDependency

from proto.partitions import Partition, partition_of
from services.common.http.auth import KeyCache
from services.common.ledger_client import LedgerClient
from services.projector.metrics import ProjectorMetrics
from services.projector.replay import LogTimes
from services.projector.worker import ProjectorWorker


@dataclass
class ProjectorRuntime:
    pool: asyncpg.Pool
    key_cache: KeyCache
    metrics: ProjectorMetrics
    ledger: LedgerClient
    # The layout queries are answered in: a learner's answer is as of its partition's checkpoint.
    partitions: int
    workers: list[ProjectorWorker]
    times: LogTimes
    # What the ledger accepts as a learner id (CREDIT_LEDGER_LEARNER_ID_PATTERN).
    learner_id_pattern: re.Pattern[str]

    def partition_of(self, learner_id: str) -> Partition:
        return partition_of(learner_id, self.partitions)


Runtime = NamedDependency[ProjectorRuntime]
