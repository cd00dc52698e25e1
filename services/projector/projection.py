"""Applies log entries to learners' credit banks and decides progress and thresholds.

The fold, the rule selection and the thresholds are the pure core's (``domain.replay``,
the same the as-of queries and the auditor's replay use); this module only stages their
results for one batch, so the store can commit them with the checkpoint, and keeps a
bounded cache of banks so memory does not grow with the number of learners.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from domain.catalog import Catalog, evolve_catalog
from domain.credit_bank import CreditBank, evolve
from domain.decision import Decision
from domain.replay import Threshold, relevant_decisions, thresholds_of
from services.common.cache import BoundedCache
from services.projector.log_entry import LogEntry

# Loads the banks of many learners at once (one query for a whole batch's cache misses).
BankLoader = Callable[[list[str]], Awaitable[dict[str, CreditBank]]]


@dataclass
class BatchOutcome:
    entries: list[LogEntry]
    catalog: Catalog
    banks: dict[str, CreditBank] = field(default_factory=dict)
    progress: dict[tuple[str, str], Decision] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def last_position(self) -> int:
        return self.entries[-1].position


class Projection:
    """The live state between batches: the catalog, and a bounded cache of banks."""

    def __init__(self, catalog: Catalog, cache_learners: int) -> None:
        self.catalog = catalog
        self._cache: BoundedCache[str, CreditBank] = BoundedCache(cache_learners)

    @property
    def cached_learners(self) -> int:
        return len(self._cache)

    async def apply(self, entries: list[LogEntry], load_banks: BankLoader) -> BatchOutcome:
        """Stage a batch; nothing here changes until ``commit`` is called after the DB commit."""
        outcome = BatchOutcome(entries=entries, catalog=self.catalog)
        missing = sorted(
            {
                e.learner_id
                for e in entries
                if e.learner_id is not None and e.learner_id not in self._cache
            }
        )
        loaded = await load_banks(missing) if missing else {}
        for entry in entries:
            learner = entry.learner_id
            if learner is None:
                outcome.catalog = evolve_catalog(
                    outcome.catalog, entry.event, entry.position, entry.recorded_at
                )
                continue
            bank = outcome.banks.get(learner) or self._cache.get(learner) or loaded[learner]
            bank = evolve(bank, entry.event, entry.position, entry.recorded_at)
            outcome.banks[learner] = bank
            decisions = relevant_decisions(outcome.catalog, bank, entry.position, entry.recorded_at)
            for decision in decisions:
                outcome.progress[(learner, decision.qualification_code)] = decision
            outcome.thresholds.extend(thresholds_of(bank, decisions, entry.position))
        return outcome

    def commit(self, outcome: BatchOutcome) -> None:
        self.catalog = outcome.catalog
        for learner, bank in outcome.banks.items():
            self._cache.put(learner, bank)

    def forget(self) -> None:
        """Drop cached banks (after a failed batch, or before a rebuild)."""
        self._cache.clear()
