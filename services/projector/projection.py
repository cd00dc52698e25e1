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
from domain.replay import Threshold, relevant_codes, thresholds_of
from domain.rules import evaluate
from domain.touched import touched_rules
from services.common.cache import BoundedCache
from services.projector.log_entry import LogEntry, bank_stream, learner_of

# A learner's bank and the version of its stream the bank has applied (None: not known,
# for a bank stored before versions were).
VersionedBank = tuple[CreditBank, int | None]
# Loads the banks of many learners at once (one query for a whole batch's cache misses).
BankLoader = Callable[[list[str]], Awaitable[dict[str, VersionedBank]]]


class StreamGap(RuntimeError):
    """An event's stream version is not the next one: a message before it was lost."""

    def __init__(self, entry: LogEntry, applied_version: int) -> None:
        super().__init__(
            f"{entry.stream} is at version {applied_version}, but position {entry.position}"
            f" is its version {entry.stream_version}"
        )
        self.entry = entry


@dataclass
class BatchOutcome:
    entries: list[LogEntry]
    catalog: Catalog
    banks: dict[str, CreditBank] = field(default_factory=dict)
    # The stream version each changed stream (learner or catalog) reached.
    versions: dict[str, int] = field(default_factory=dict)
    progress: dict[tuple[str, str], Decision] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def last_position(self) -> int:
        return self.entries[-1].position


class Projection:
    """The live state of one partition between batches: the catalog with its streams'
    versions, and a bounded cache of banks."""

    def __init__(
        self, catalog: Catalog, catalog_versions: dict[str, int], cache_learners: int
    ) -> None:
        self.catalog = catalog
        self.catalog_versions = catalog_versions
        self._cache: BoundedCache[str, VersionedBank] = BoundedCache(cache_learners)

    @property
    def cached_learners(self) -> int:
        return len(self._cache)

    async def apply(self, entries: list[LogEntry], load_banks: BankLoader) -> BatchOutcome:
        """Stage a batch; nothing here changes until ``commit`` is called after the DB commit.

        Raises ``StreamGap`` when an event is not the next of its stream."""
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
                applied = outcome.versions.get(entry.stream)
                if applied is None:
                    applied = self.catalog_versions.get(entry.stream, 0)
                _check_version(entry, applied)
                outcome.versions[entry.stream] = entry.stream_version
                outcome.catalog = evolve_catalog(
                    outcome.catalog, entry.event, entry.position, entry.recorded_at
                )
                continue
            version: int | None
            if learner in outcome.banks:
                bank, version = outcome.banks[learner], outcome.versions[entry.stream]
            else:
                bank, version = self._cache.get(learner) or loaded[learner]
            _check_version(entry, version)
            outcome.versions[entry.stream] = entry.stream_version
            before = bank
            bank = evolve(bank, entry.event, entry.position, entry.recorded_at)
            outcome.banks[learner] = bank
            # Only the rules the event can have changed are judged again (domain.touched).
            catalog = outcome.catalog
            rules = touched_rules(
                catalog, relevant_codes(catalog, bank), before, bank, entry.position
            )
            decisions = [evaluate(rule, bank, entry.recorded_at) for rule in rules]
            for decision in decisions:
                outcome.progress[(learner, decision.qualification_code)] = decision
            outcome.thresholds.extend(thresholds_of(bank, decisions, entry.position))
        return outcome

    def commit(self, outcome: BatchOutcome) -> None:
        self.catalog = outcome.catalog
        for learner, bank in outcome.banks.items():
            self._cache.put(learner, (bank, outcome.versions[bank_stream(learner)]))
        for stream, version in outcome.versions.items():
            if learner_of(stream) is None:
                self.catalog_versions[stream] = version

    def forget(self) -> None:
        """Drop cached banks (after a failed batch, or before a rebuild)."""
        self._cache.clear()


def _check_version(entry: LogEntry, applied: int | None) -> None:
    """``applied`` None: a bank stored before versions were, whose version is not known."""
    if applied is not None and entry.stream_version != applied + 1:
        raise StreamGap(entry, applied)
