"""The migrations build the schema ``closedloop.db.tables`` describes: the hot read paths
compile their statements from those tables, so a column, index or constraint that exists
only on one side would go unnoticed until a query failed."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from closedloop.db.database import Database
from closedloop.db.tables import metadata


async def test_the_migrated_database_matches_the_tables(db: Database) -> None:
    async with db.admin.connect() as conn:
        diffs = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diffs == []
