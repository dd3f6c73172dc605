"""The reference cache (``closedloop.schema.reference``): entries expire after their time to
live, a full cache lets its oldest entry go (not everything), a row is converted once per
entry, and a known absence is told apart from a miss."""

from __future__ import annotations

from closedloop.schema.reference import MISSING, ReferenceCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_time_to_live() -> None:
    clock = Clock()
    cache = ReferenceCache(ttl=60.0, timer=clock)
    cache.put("region", "330521", "德清县")
    clock.now += 59.0
    assert cache.get("region", "330521") == "德清县"
    clock.now += 2.0
    assert cache.get("region", "330521") is MISSING
    assert cache.converted("region", "330521", str.upper) is MISSING


def test_a_full_cache_lets_the_oldest_entry_go_and_keeps_the_rest() -> None:
    clock = Clock()
    cache = ReferenceCache(ttl=60.0, max_entries=3, timer=clock)
    for code in ("a", "b", "c"):
        cache.put("region", code, code.upper())
        clock.now += 1.0
    cache.put("region", "a", "A2")  # put again: now the newest, living 60 s from now
    cache.put("region", "d", "D")
    assert len(cache) == 3
    assert [cache.get("region", k) for k in "abcd"] == ["A2", MISSING, "C", "D"]


def test_converted_once_per_entry_and_a_known_absence_is_none() -> None:
    cache = ReferenceCache(timer=Clock())
    calls: list[str] = []

    def convert(row: str) -> str:
        calls.append(row)
        return row.lower()

    cache.put("board", 7, "BOARD")
    cache.put("board", 8, None)
    assert [cache.converted("board", 7, convert) for _ in range(3)] == ["board"] * 3
    assert calls == ["BOARD"]
    assert cache.converted("board", 8, convert) is None
    assert cache.converted("board", 9, convert) is MISSING
    assert cache.get("board", 8) is None
    cache.clear()
    assert (len(cache), cache.get("board", 7)) == (0, MISSING)
