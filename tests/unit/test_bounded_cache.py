"""The one bounded cache: least recently used entries go first; entries expire after a TTL."""

from __future__ import annotations

import pytest

from services.common.cache import BoundedCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert len(cache) == 2


def test_putting_again_replaces_and_refreshes() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("a") == 10
    assert cache.get("b", -1) == -1


def test_an_entry_older_than_the_ttl_is_gone() -> None:
    now = [100.0]
    cache: BoundedCache[str, str] = BoundedCache(10, ttl_s=2.0, clock=lambda: now[0])
    cache.put("key", "actor")
    now[0] += 2.0
    assert cache.get("key") == "actor"  # exactly the TTL: still valid
    now[0] += 0.001
    assert "key" not in cache
    assert cache.get("key") is None
    assert len(cache) == 0  # an expired entry read is dropped
    cache.put("key", "again")
    assert cache.get("key") == "again"


def test_without_a_ttl_entries_never_expire() -> None:
    now = [0.0]
    cache: BoundedCache[int, int] = BoundedCache(1, clock=lambda: now[0])
    cache.put(1, 1)
    now[0] += 1e9
    assert cache.get(1) == 1


def test_clear_empties_and_a_cache_holds_at_least_one_entry() -> None:
    cache: BoundedCache[int, int] = BoundedCache(3, ttl_s=1.0)
    for i in range(3):
        cache.put(i, i)
    cache.clear()
    assert len(cache) == 0
    assert cache.get(0) is None
    with pytest.raises(ValueError, match="at least one entry"):
        BoundedCache(0)
