"""One bounded cache for every service: least recently used entries go first.

The projector keeps learners' banks in one, the issuer learners' streams and qualification
rules, and every service the answers of the ledger's /v1/whoami (with a time to live, so
that a revoked key stops working within it). Memory stays bounded however many learners
or keys pass through.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class BoundedCache(Generic[K, V]):
    """At most ``entries_max`` entries; with ``ttl_s``, an entry older than that is gone."""

    def __init__(
        self,
        entries_max: int,
        *,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if entries_max < 1:
            raise ValueError("a bounded cache holds at least one entry")
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._stored_at: dict[K, float] = {}
        self._entries_max = entries_max
        self._ttl_s = ttl_s
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries and not self._expired(key)

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        """The entry, now the most recently used; ``default`` when absent or expired."""
        if key not in self._entries:
            return default
        if self._expired(key):
            self._drop(key)
            return default
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if self._ttl_s is not None:
            self._stored_at[key] = self._clock()
        while len(self._entries) > self._entries_max:
            oldest, _ = self._entries.popitem(last=False)
            self._stored_at.pop(oldest, None)

    def clear(self) -> None:
        self._entries.clear()
        self._stored_at.clear()

    def _expired(self, key: K) -> bool:
        if self._ttl_s is None:
            return False
        return self._clock() - self._stored_at[key] > self._ttl_s

    def _drop(self, key: K) -> None:
        del self._entries[key]
        self._stored_at.pop(key, None)
