"""Cached reads of the ledger: learners' streams and the catalog.

Streams are append-only, so a cache only ever grows: each read fetches the events after
the cached version, which the ledger answers with one small page. The caches are bounded
(least recently used learners are dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.catalog import Catalog
from proto import events as ev
from proto.envelope import RecordedEvent
from services.common.cache import BoundedCache
from services.common.ledger_client import LedgerClient
from services.issuer.history import (
    LearnerHistory,
    Recorded,
    catalog_of,
    learner_history,
    recorded,
)

QUALIFICATIONS_CACHED_MAX = 10_000
INSTITUTIONS_CACHED_MAX = 10_000
# Names change rarely; a renamed institution shows its new name within this.
INSTITUTION_NAME_TTL_S = 300.0


class HistoryReader:
    def __init__(self, ledger: LedgerClient, cache_learners: int) -> None:
        self._ledger = ledger
        self._cache: BoundedCache[str, tuple[RecordedEvent, ...]] = BoundedCache(cache_learners)

    async def learner(self, learner_id: str) -> LearnerHistory:
        """The learner's whole stream as the ledger holds it now."""
        cached = self._cache.get(learner_id, ())
        fresh = await self._ledger.stream(f"learner-{learner_id}", after_version=len(cached))
        rows = cached + tuple(fresh)
        # Another task may have read further meanwhile: keep the longer of the two.
        if len(rows) >= len(self._cache.get(learner_id, ())):
            self._cache.put(learner_id, rows)
        return learner_history(learner_id, rows)


class CatalogReader:
    """Qualification rules (every version, with the position that recorded it) and the
    micro-credentials' titles."""

    def __init__(self, ledger: LedgerClient) -> None:
        self._ledger = ledger
        self._rules: BoundedCache[str, tuple[Recorded, ...]] = BoundedCache(
            QUALIFICATIONS_CACHED_MAX
        )
        self._titles: dict[str, str] = {}
        self._qualification_codes: frozenset[str] = frozenset()
        self._institution_names: BoundedCache[str, str] = BoundedCache(
            INSTITUTIONS_CACHED_MAX, ttl_s=INSTITUTION_NAME_TTL_S
        )

    async def _refresh(self, code: str) -> tuple[Recorded, ...]:
        known = self._rules.get(code, ())
        fresh = await self._ledger.stream(f"qualification-{code}", after_version=len(known))
        rows = known + tuple(recorded(r) for r in fresh)
        if len(rows) > len(self._rules.get(code, ())):
            self._rules.put(code, rows)
        return rows

    async def catalog(self, codes: Iterable[str]) -> Catalog:
        """The rules of ``codes`` as the ledger holds them now."""
        rows = [r for code in sorted(set(codes)) for r in await self._refresh(code)]
        return catalog_of(rows)

    async def catalog_with(self, versions: Iterable[tuple[str, int]]) -> Catalog:
        """The rules of ``codes``, read again only when a needed version is not cached."""
        rows: list[Recorded] = []
        needed: dict[str, int] = {}
        for code, version in versions:
            needed[code] = max(version, needed.get(code, 0))
        for code, version in sorted(needed.items()):
            cached = self._rules.get(code, ())
            rows.extend(cached if len(cached) >= version else await self._refresh(code))
        return catalog_of(rows)

    async def definition(self, code: str, version: int) -> ev.QualificationDefined:
        rows = self._rules.get(code, ())
        if len(rows) < version:
            rows = await self._refresh(code)
        if not 1 <= version <= len(rows):
            raise LookupError(f"the ledger holds no {code} v{version}")
        event = rows[version - 1].event
        if not isinstance(event, ev.QualificationDefined) or event.version != version:
            raise ValueError(f"stream qualification-{code} holds {event!r} at version {version}")
        return event

    async def kinds(self, codes: Iterable[str]) -> tuple[Mapping[str, str], frozenset[str]]:
        """Titles (of micro-credentials and qualifications, current versions) and the
        qualification codes; read again only when one of ``codes`` is neither (the
        catalog grew since the last read)."""
        wanted = set(codes)
        if not wanted <= self._titles.keys() | self._qualification_codes:
            micro = await self._ledger.definitions("micro-credentials")
            qualifications = await self._ledger.definitions("qualifications")
            self._titles = {str(d["code"]): str(d["title"]) for d in micro if "code" in d}
            self._titles.update(
                {str(d["code"]): str(d["title"]) for d in qualifications if "code" in d}
            )
            self._qualification_codes = frozenset(str(d["code"]) for d in qualifications)
        return dict(self._titles), self._qualification_codes

    async def institution_names(self, ids: Iterable[str]) -> dict[str, str]:
        """The registered name of each of ``ids`` the ledger knows (briefly cached); an id
        it does not know, or cannot say now, is left out (a page then shows the id)."""
        names: dict[str, str] = {}
        for institution_id in sorted(set(ids)):
            name = self._institution_names.get(institution_id)
            if name is None:
                name = await self._ledger.institution_name(institution_id)
                if name is None:
                    continue
                self._institution_names.put(institution_id, name)
            names[institution_id] = name
        return names
