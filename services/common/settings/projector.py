"""The projector's own settings (it reads the ledger at ``LedgerSettings.url``)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from proto.partitions import BUCKETS, Partition, all_partitions
from services.common.settings.env import SettingsError, env_int
from services.common.settings.serving import HttpSettings

DEFAULT_PARTITIONS = 2


class ProjectorSettings(msgspec.Struct, frozen=True, kw_only=True):
    api_key: str | None
    port: int
    cache_learners: int
    # How many partitions the read model is split into (proto/partitions.py), and which
    # of them this process runs a worker for (a standby is a second process running the
    # same ones: it waits for the leader's lock).
    partitions: int
    run_partitions: tuple[int, ...]

    @property
    def worker_partitions(self) -> list[Partition]:
        return [Partition(index, self.partitions) for index in self.run_partitions]


def read(env: Mapping[str, str], http: HttpSettings) -> ProjectorSettings:
    partitions = env_int(env, "CREDIT_LEDGER_PROJECTOR_PARTITIONS", DEFAULT_PARTITIONS, 1, BUCKETS)
    return ProjectorSettings(
        api_key=env.get("CREDIT_LEDGER_PROJECTOR_API_KEY") or None,
        port=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_PORT", http.port + 1 if http.port else 0, 0, 65535
        ),
        cache_learners=env_int(
            env, "CREDIT_LEDGER_PROJECTOR_CACHE_LEARNERS", 10_000, 1, 10_000_000
        ),
        partitions=partitions,
        run_partitions=_run_partitions(env, partitions),
    )


def _run_partitions(env: Mapping[str, str], partitions: int) -> tuple[int, ...]:
    """``CREDIT_LEDGER_PROJECTOR_RUN_PARTITIONS``: "all" (the default), "none" (queries
    only), or a comma-separated list such as "0,2"."""
    name = "CREDIT_LEDGER_PROJECTOR_RUN_PARTITIONS"
    raw = (env.get(name) or "all").strip().lower()
    if raw == "all":
        return tuple(p.index for p in all_partitions(partitions))
    if raw == "none":
        return ()
    try:
        chosen = sorted({int(part) for part in raw.split(",")})
    except ValueError as exc:
        raise SettingsError(
            f'{name} must be "all", "none" or a list like "0,1", got {raw!r}'
        ) from exc
    out_of_range = [index for index in chosen if not 0 <= index < partitions]
    if out_of_range:
        raise SettingsError(
            f"{name} names partition {out_of_range[0]}, but there are {partitions} (0..{partitions - 1})"
        )
    return tuple(chosen)
