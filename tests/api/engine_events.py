"""What every engine of a ``Database`` (the request role's, the system's, the owner's) did
inside a ``with`` block: the statements it sent, the connections it opened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import event

from closedloop.db.database import Database


@contextmanager
def on_every_engine(db: Database, name: str, entry: Callable[..., Any]) -> Iterator[list[Any]]:
    """``entry(*the event's arguments)`` for each ``name`` event of any engine, in order."""
    seen: list[Any] = []

    def record(*args: Any) -> None:
        seen.append(entry(*args))

    engines = {id(e): e for e in (db.engine, db.system, db.admin)}.values()
    for engine in engines:
        event.listen(engine.sync_engine, name, record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, name, record)


def statements(db: Database) -> AbstractContextManager[list[Any]]:
    """The statements sent (``with statements(db) as sent:``)."""
    return on_every_engine(db, "before_cursor_execute", lambda conn, cursor, sql, *_: sql)


def connections_opened(db: Database) -> AbstractContextManager[list[Any]]:
    """A ``"connect"`` for each PostgreSQL connection opened anew."""
    return on_every_engine(db, "connect", lambda *_: "connect")
