"""Distinct query texts do not grow memory: every cache keeps to its bounds, and past its
bounds a stream of new texts leaves nothing behind (counted in live objects after a full
collection, so a cache missing from ``closedloop.caches.CACHES`` fails too). The
20,000-request curve on a real server is bench/memory.py (bench/RESULTS.md)."""

from __future__ import annotations

import gc

import pytest

from closedloop.caches import CACHES, BoundedCache
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

ENTRIES = 16
# The caches every query goes through (a page of issues).
EXPECTED = {"plans", "page-selections", "compiled-sql", "page-statements"}


def page(n: int) -> str:
    """A new text each time (operation name and alias), the same SQL."""
    return f"query Q{n} {{ p{n}: issues(first: 5) {{ totalCount nodes {{ id title }} }} }}"


async def _send(api: Api, numbers: range) -> None:
    for n in numbers:
        data = await api.gql(page(n), as_="xinshi.center")
        assert data[f"p{n}"]["totalCount"] >= 0


async def test_distinct_queries_leave_nothing_behind(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    caches = dict(CACHES)
    assert set(caches) >= EXPECTED, sorted(caches)
    for cache in caches.values():
        monkeypatch.setattr(cache, "max_entries", ENTRIES)
        while len(cache) > ENTRIES:  # what earlier tests left
            cache.popitem()
    await _send(api, range(0, 3 * ENTRIES))  # every cache full, every statement prepared
    gc.collect()
    before = len(gc.get_objects())
    await _send(api, range(1_000, 1_000 + 6 * ENTRIES))
    gc.collect()
    grown = len(gc.get_objects()) - before
    for name, cache in caches.items():
        assert len(cache) <= ENTRIES, name
        assert cache.currsize <= cache.maxsize, name
    # A cache without bound keeps hundreds of objects per query (a document alone); the
    # noise measured was 2 objects over the 96 queries alone and ~5 per query after the
    # whole suite (other per-process state warming up), so the bar is 10 per query.
    assert grown < 10 * 6 * ENTRIES, grown


def test_a_bounded_cache_keeps_to_entries_and_bytes() -> None:
    cache: BoundedCache[int, str] = BoundedCache("test-bounds", 3, 1_000, lambda k, v: len(v))
    for n in range(10):
        cache[n] = "x" * 100
    assert list(cache) == [7, 8, 9]  # entries: the least recently used go
    for n in range(10, 20):
        cache[n] = "x" * 500
    assert list(cache) == [19] and cache.currsize <= 1_000  # bytes
    cache["huge"] = "x" * 5_000
    assert "huge" not in cache  # heavier than the whole cache: not kept
