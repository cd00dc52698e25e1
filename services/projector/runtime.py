"""Everything the projector's handlers need, owned by its lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from litestar.di import NamedDependency

from services.common.http.auth import KeyCache
from services.projector.metrics import ProjectorMetrics
from services.projector.worker import ProjectorWorker


@dataclass
class ProjectorRuntime:
    pool: asyncpg.Pool
    key_cache: KeyCache
    metrics: ProjectorMetrics
    worker: ProjectorWorker | None


Runtime = NamedDependency[ProjectorRuntime]
