"""Hot reads on the driver connection (closedloop.db.driver, Database.reader): the scope is
written exactly, statements run only inside the scoped transaction and are counted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.db.database import Database
from tests.api.test_query_counts import counting


async def test_the_scope_reaches_postgresql_verbatim(db: Database) -> None:
    odd = Principal(
        account_id=1,
        username="x",
        display_name="x",
        role=Role.CENTER_STAFF,
        region_code="33'05\\'; SELECT 1; --",
    )
    async with db.reader(odd) as reader:
        rows = await driver.fetch_sql(
            reader,
            "SELECT current_setting('closedloop.region'), current_setting('closedloop.role')",
        )
        assert tuple(rows[0]) == (odd.region_code, "CENTER_STAFF")
        ro = await driver.fetch_sql(reader, "SHOW transaction_read_only")
        assert ro[0][0] == "on"
    # Nothing leaks into the next transaction on the connection.
    async with db.read_reference() as conn:
        leftover = (
            await conn.execute(sa.text("SELECT current_setting('closedloop.region', true)"))
        ).scalar()
        assert not leftover


async def test_driver_statements_run_inside_a_transaction_and_are_counted(db: Database) -> None:
    async with db.engine.connect() as conn:
        with pytest.raises(RuntimeError, match="outside a transaction"):
            await driver.fetch(conn, sa.select(sa.literal(1)))
    principal = Principal(
        account_id=1, username="x", display_name="x", role=Role.ADMIN, region_code="33"
    )
    with counting(db) as statements:
        async with db.reader(principal) as reader:
            rows = await driver.fetch(reader, sa.select(sa.func.count()).select_from(t.region))
    assert rows[0][0] > 0
    assert len(statements) == 2  # the scope, the count (BEGIN/ROLLBACK are not counted)


async def test_expanding_parameters_are_refused(db: Database) -> None:
    principal = Principal(
        account_id=1, username="x", display_name="x", role=Role.ADMIN, region_code="33"
    )
    async with db.reader(principal) as reader:
        with pytest.raises(ValueError, match="ANY"):
            await driver.fetch(
                reader, sa.select(t.region.c.code).where(t.region.c.code.in_(["33"]))
            )
