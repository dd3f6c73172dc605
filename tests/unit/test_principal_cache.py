"""The account cache: bounded (least recently used out first), invalidated by account, and
never storing a look-up that raced with an invalidation."""

from __future__ import annotations

import asyncio

from closedloop.authz.roles import Principal, Role
from closedloop.identity.principal_cache import PrincipalCache


def principal(name: str) -> Principal:
    return Principal(1, name, name, Role.CENTER_STAFF, "330521")


class Loads:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, username: str) -> Principal | None:
        self.count += 1
        return principal(username)


async def test_bounded_least_recently_used_out_first() -> None:
    cache, load = PrincipalCache(max_entries=2), Loads()
    await cache.get("a", load, live=True)
    await cache.get("b", load, live=True)
    await cache.get("a", load, live=True)  # a is used again: b is now the oldest in use
    await cache.get("c", load, live=True)
    assert ("a" in cache, "b" in cache, "c" in cache, len(cache)) == (True, False, True, 2)
    assert load.count == 3


async def test_not_live_reads_through_and_keeps_nothing() -> None:
    cache, load = PrincipalCache(), Loads()
    await cache.get("a", load, live=False)
    await cache.get("a", load, live=False)
    assert (load.count, len(cache)) == (2, 0)


async def test_forget_and_a_racing_look_up() -> None:
    cache = PrincipalCache()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(username: str) -> Principal | None:
        started.set()
        await release.wait()
        return principal(username)

    pending = asyncio.create_task(cache.get("a", slow, live=True))
    await started.wait()
    cache.forget("a")  # the account changed while it was being read
    release.set()
    assert (await pending).username == "a"
    assert "a" not in cache  # what it read may predate the change
    await cache.get("a", Loads(), live=True)
    assert "a" in cache
    cache.clear()
    assert len(cache) == 0
