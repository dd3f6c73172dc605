"""Shared plumbing of the command-line modules: run a coroutine, open the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from closedloop.db.database import Database
from closedloop.settings import Settings

T = TypeVar("T")


def run_coroutine(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


@asynccontextmanager
async def database_for(settings: Settings, migrate: bool = False) -> AsyncIterator[Database]:
    from closedloop.db.migrate import upgrade
    from closedloop.db.setup import open_database

    db, embedded = await open_database(settings)
    try:
        if migrate and embedded is None:
            await upgrade(db.admin)
        yield db
    finally:
        await db.dispose()
        if embedded is not None:
            embedded.stop()
