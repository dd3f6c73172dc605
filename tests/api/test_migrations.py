"""The migrations build the schema ``closedloop.db.tables`` describes: the hot read paths
compile their statements from those tables, and the plans they count on need the indexes
as written there, so a difference on either side would go unnoticed until a query failed
or slowed down."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.schema import CreateIndex

from closedloop.db.database import Database
from closedloop.db.tables import metadata


async def test_the_migrated_database_matches_the_tables(db: Database) -> None:
    async with db.admin.connect() as conn:
        diffs = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diffs == []


def _unnamed(definition: str) -> str:
    """An index definition without its own name and its table's (schema-qualified) name."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", r"CREATE \1INDEX ON ", definition)


async def test_every_index_is_defined_as_the_tables_say(db: Database) -> None:
    """``compare_metadata`` only sees an index missing on one side, not its included
    columns, predicate, order or method: each index as the tables declare it is built on an
    empty copy of its table, and PostgreSQL's own rendering of both must agree."""
    compared = 0
    async with db.admin.connect() as conn, conn.begin() as tx:
        for table in metadata.sorted_tables:
            if not table.indexes:
                continue
            copy = f"index_probe_{table.name}"
            await conn.exec_driver_sql(f"CREATE TEMP TABLE {copy} (LIKE {table.name})")
            for n, index in enumerate(sorted(table.indexes, key=lambda i: str(i.name))):
                ddl = str(CreateIndex(index).compile(dialect=conn.dialect))
                probe = f"index_probe_{n}_{table.name}"[:63]
                await conn.exec_driver_sql(
                    ddl.replace(f"INDEX {index.name} ON {table.name} ", f"INDEX {probe} ON {copy} ")
                )
                definitions = await conn.exec_driver_sql(
                    f"SELECT pg_get_indexdef('{index.name}'::regclass),"
                    f" pg_get_indexdef('{probe}'::regclass)"
                )
                migrated, declared = definitions.one()
                assert _unnamed(migrated) == _unnamed(declared), index.name
                compared += 1
        await tx.rollback()
    assert compared >= 20
