"""Every process-wide cache, bounded in entries and in bytes.

The caches keep what repeats across requests: parsed and validated documents, prepared
queries, compiled selection plans, the column sets of issue pages, compiled SQL, the
similarity keys of recent issue texts. Their keys
come from clients (query texts), so each is bounded twice: in entries, and in bytes
estimated from the size of what it keeps (for a document or a plan, proportional to the
length of its query text: about 80 bytes of syntax tree per character of query,
``tests/unit/test_caches.py`` checks the estimate). ``BoundedCache`` is cachetools' LRU
cache with both bounds; every instance is listed in ``CACHES`` by name, and the memory test
(``tests/api/test_memory.py``) fills them all past their bounds.

Reference data (regions, boards, departments) has its own cache with a time to live
(``closedloop.schema.reference``, first in first out on an ``OrderedDict``: a hit is the C
dictionary's ``get``), bounded by ``MAX_ENTRIES``;
the accounts and verified tokens have theirs (``closedloop.identity``, cachetools'
``LRUCache``); the small functools caches
keyed by enums and short codes (policy decisions, time-limit rules) are bounded in
entries and their entries are of fixed size.

``empty_all`` empties every ``BoundedCache``: with the reference, account and token caches
it makes a running server cold again (``closedloop.http.app``: on ``SIGUSR1``), which is how
the benchmarks measure requests with cold caches (``bench/mixed.py``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Bytes of a parsed document (AST, locations, tokens) or a compiled plan per character of
# its query text, rounded up (measured: 79-81 for a pool page and a dashboard query).
BYTES_PER_QUERY_CHAR = 100
# What an entry costs besides its content (the key, the cache's own records).
ENTRY_OVERHEAD = 200

# name -> cache, while the cache lives (a schema's own caches go with it)
CACHES: weakref.WeakValueDictionary[str, BoundedCache[Any, Any]] = weakref.WeakValueDictionary()


class BoundedCache(cachetools.LRUCache[K, V], Generic[K, V]):
    """An LRU cache of at most ``max_entries`` entries and ``max_bytes`` bytes, each entry
    weighed by ``sizeof(key, value)`` (an entry heavier than ``max_bytes`` is not kept)."""

    def __init__(
        self,
        name: str,
        max_entries: int,
        max_bytes: int,
        sizeof: Callable[[K, V], int],
    ) -> None:
        # cachetools weighs the value alone; the weight here comes from the key too, so
        # ``__setitem__`` computes it and hands it over.
        self._pending = 0
        super().__init__(maxsize=max_bytes, getsizeof=lambda value: self._pending)
        self.name = name
        self.max_entries = max_entries
        self._sizeof = sizeof
        CACHES[name] = self

    def __setitem__(self, key: K, value: V) -> None:
        size = self._sizeof(key, value) + ENTRY_OVERHEAD
        if size > self.maxsize:
            return
        self._pending = size
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            self.popitem()


def text_size(text: str) -> int:
    """The estimated bytes of a document or plan made from a query text of this length."""
    return len(text) * BYTES_PER_QUERY_CHAR


def empty_all() -> int:
    """Empties every cache in ``CACHES``; returns how many entries were dropped."""
    dropped = 0
    for cache in list(CACHES.values()):
        dropped += len(cache)
        cache.clear()
    return dropped
