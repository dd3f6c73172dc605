"""Accounts by username, remembered only while changes to them are heard.

An entry stays until the account changes: the ``account`` trigger's NOTIFY (see
``closedloop.services.event_bus``) calls ``forget``, a lost listening connection calls
``clear``. There is no time-to-live; instead the cache is bypassed while the caller says
invalidation is not live (``live=False``), so a missed notification cannot leave a
deactivated account working. A look-up that raced with an invalidation is not stored (the
row it read may predate the change).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import cachetools

from closedloop.authz.roles import Principal

MAX_ENTRIES = 10_000

Loader = Callable[[str], Awaitable[Principal | None]]


class PrincipalCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        # The least recently used account goes first when it is full.
        self._entries: cachetools.LRUCache[str, Principal | None] = cachetools.LRUCache(max_entries)
        self._generation = 0  # counts invalidations

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    async def get(self, username: str, load: Loader, *, live: bool) -> Principal | None:
        if live and username in self._entries:
            return self._entries[username]
        generation = self._generation
        found = await load(username)
        if live and generation == self._generation:
            self._entries[username] = found
        return found

    def forget(self, username: str) -> None:
        self._generation += 1
        self._entries.pop(username, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
