"""Hot read paths: a SQLAlchemy Core statement compiled once per shape, run on the driver.

SQLAlchemy's execution path (cache-key look-up, execution context, result processing into
rows and mappings, greenlet switches) costs a pool page of 50 issues more CPU than asyncpg
spends on the round trips themselves. ``fetch`` keeps SQLAlchemy for what it is good at,
building and compiling statements, and hands the compiled text and the parameters straight
to asyncpg, inside the same transaction (so the caller's scope and row-level security
apply unchanged); the rows come back as asyncpg records.

A statement is compiled once per structure (SQLAlchemy's own cache key, which leaves out the
parameter values); statements with expanding parameters (``IN`` over a Python list) are
refused: write them as ``= ANY(array)``. Each statement fires the engine's
``before_cursor_execute`` listeners, so ``/metrics`` and the statement-count tests see it
like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.caches import BoundedCache

MAX_COMPILED = 256
MAX_COMPILED_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    sql: str
    # For each positional parameter ($1, $2, …): its index among the statement's bound
    # parameters (in cache-key order) and the type's bind processor, if any.
    positions: tuple[int, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


_compiled: BoundedCache[Hashable, CompiledStatement] = BoundedCache(
    "compiled-sql",
    MAX_COMPILED,
    MAX_COMPILED_BYTES,
    lambda key, plan: 4 * len(plan.sql) + 100 * len(plan.positions),
)


def _compile(
    source: AsyncConnection | Reader, statement: sa.Executable, bound: Sequence[Any]
) -> CompiledStatement:
    dialect = source.engine.dialect if isinstance(source, Reader) else source.dialect
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError("expanding parameters: write IN over a list as = ANY(array)")
    index = {id(b): i for i, b in enumerate(bound)}
    names = compiled.positiontup or []
    processors = compiled._bind_processors
    return CompiledStatement(
        sql=compiled.string,
        positions=tuple(index[id(compiled.binds[name])] for name in names),
        processors=tuple(processors.get(name) for name in names),
    )


class Reader:
    """A read-only transaction held on the driver connection itself (``Database.reader``):
    no SQLAlchemy connection, transaction, execution context or result objects on the way.
    ``engine`` is the (sync) engine whose pool lent the connection: its dialect compiles,
    its listeners hear the statements."""

    def __init__(self, engine: sa.Engine, driver: Any) -> None:
        self.engine = engine
        self.driver = driver

    async def execute(self, sql: str, *args: Any) -> None:
        """A statement given as SQL text (counted like the others)."""
        _announce(self, sql, args)
        await self.driver.execute(sql, *args)


def _announce(source: AsyncConnection | Reader, sql: str, args: Sequence[Any]) -> None:
    """Fire the engine's ``before_cursor_execute`` listeners (statement counters). A
    reader has no SQLAlchemy connection to name: the listeners get ``None`` for it."""
    if isinstance(source, Reader):
        source.engine.dispatch.before_cursor_execute(None, None, sql, args, None, False)
        return
    sync = source.sync_connection
    if sync is not None:
        sync.dispatch.before_cursor_execute(sync, None, sql, args, None, False)


async def fetch(source: AsyncConnection | Reader, statement: sa.Executable) -> list[Any]:
    """The rows of a SELECT as asyncpg records, in the open transaction of ``source`` (a
    reader, or a SQLAlchemy connection whose transaction has run a statement already)."""
    sql, args = sql_and_args(source, statement)
    return await fetch_sql(source, sql, *args)


def sql_and_args(
    source: AsyncConnection | Reader, statement: sa.Executable
) -> tuple[str, list[Any]]:
    """The SQL text ``fetch`` sends for ``statement`` and its positional arguments."""
    key = statement._generate_cache_key()  # type: ignore[attr-defined]
    if key is None:
        raise ValueError("statement cannot be cached")
    bound = key.bindparams
    plan = _compiled.get(key.key)
    if plan is None:
        plan = _compile(source, statement, bound)
        _compiled[key.key] = plan
    args = []
    for position, process in zip(plan.positions, plan.processors, strict=True):
        value = bound[position].effective_value
        args.append(process(value) if process is not None and value is not None else value)
    return plan.sql, args


async def fetch_sql(source: AsyncConnection | Reader, sql: str, *args: Any) -> list[Any]:
    """The rows of a fixed SQL text with positional parameters ($1, $2, …)."""
    if isinstance(source, Reader):
        driver = source.driver
    else:
        driver = (await source.get_raw_connection()).driver_connection
    # The caller's scope lives in the transaction: never run outside one.
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("driver fetch outside a transaction")
    _announce(source, sql, args)
    return list(await driver.fetch(sql, *args))


class Template:
    """A statement whose parameters are all named ``bindparam``s, compiled once (on first
    use, for the connection's dialect): each call only orders its values, no statement is
    built or looked up per call. For the hottest paths."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: tuple[str, tuple[str, ...], tuple[Any, ...]] | None = None

    def sql_and_args(self, conn: AsyncConnection, values: dict[str, Any]) -> tuple[str, list[Any]]:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
            if compiled.post_compile_params or compiled.literal_execute_params:
                raise ValueError("expanding parameters: write IN over a list as = ANY(array)")
            names = tuple(compiled.positiontup or ())
            processors = compiled._bind_processors
            self._compiled = (
                compiled.string,
                tuple(compiled.binds[n].key for n in names),
                tuple(processors.get(n) for n in names),
            )
        sql, keys, processes = self._compiled
        args = [values[k] for k in keys]
        return sql, [
            p(v) if p is not None and v is not None else v
            for p, v in zip(processes, args, strict=True)
        ]


async def fetch_alone(conn: AsyncConnection, template: Template, **values: Any) -> list[Any]:
    """The rows of one SELECT run outside any transaction (its own, implicit one), so with
    no caller scope: for reference rows and SECURITY DEFINER functions only. Fails closed:
    the scope is set per transaction, so a tenant table's policy sees none and answers
    nothing. ``conn``: a checked-out connection that has begun nothing."""
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None or driver.is_in_transaction():
        raise RuntimeError("a statement alone needs a connection outside any transaction")
    sql, args = template.sql_and_args(conn, values)
    _announce(conn, sql, args)
    return list(await driver.fetch(sql, *args))


async def rows(source: AsyncConnection | Reader, statement: sa.Executable) -> Sequence[Any]:
    """The rows of a SELECT, each read by column name (``row["name"]``, ``dict(row)``): on a
    reader, asyncpg records through ``fetch``; on a SQLAlchemy connection, its row mappings
    (whose transaction may not have run a statement yet). For reads shared by the request's
    loaders (on its reader) and by other callers (on their own transactions)."""
    if isinstance(source, Reader):
        return await fetch(source, statement)
    return (await source.execute(statement)).mappings().all()


def any_of(column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN values`` as ``column = ANY($n)``: one array parameter whatever the number
    of values (``fetch`` refuses expanding ``IN`` lists; the statement compiles once)."""
    # Text columns with a collation (region codes) bind as plain text[].
    element = sa.Text() if isinstance(column.type, sa.String) else column.type
    return column == sa.any_(sa.literal(list(values), ARRAY(element)))
