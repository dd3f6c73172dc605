"""The second barrier: PostgreSQL row-level security on the issue tables. A query that
forgets its scope filter still returns nothing out of scope, and the application's role
cannot switch the barrier off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from closedloop.db.database import Database
from closedloop.identity.accounts import principal_for
from tests.api.issue_helpers import ok, step, submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")


async def _two_counties(api: Api) -> tuple[str, str]:
    """One issue held in 德清 (via its town) and one taken in by 长兴's center."""
    deqing = await submit(api)
    await step(api, "acceptIssue", deqing, "xinshi.center")
    changxing = await ok(
        api,
        "submitIssue",
        {
            "title": "电池厂用电扩容",
            "content": "申请增容",
            "channel": "HOTLINE_12345",
            "creditCode": "91330522MA2D1W8N3" + _check("91330522MA2D1W8N3"),
        },
        "changxing.center",
    )
    return deqing["number"], changxing["number"]


def _check(base: str) -> str:
    from stdnum.cn import uscc

    return str(uscc.calc_check_digit(base))


async def _unfiltered(db: Database, username: str, sql: str) -> list[str]:
    async with db.read_reference() as conn:
        principal = await principal_for(conn, username)
    assert principal is not None
    async with db.read(principal) as conn:
        return [str(v) for v in (await conn.execute(sa.text(sql))).scalars().all()]


async def test_unfiltered_queries_return_only_rows_in_scope(api: Api, db: Database) -> None:
    deqing, changxing = await _two_counties(api)
    assert await _unfiltered(db, "changxing.center", "SELECT number FROM issue") == [changxing]
    assert await _unfiltered(db, "deqing.center", "SELECT number FROM issue") == [deqing]
    assert sorted(await _unfiltered(db, "huzhou.center", "SELECT number FROM issue")) == sorted(
        [deqing, changxing]
    )
    assert await _unfiltered(db, "ent.changxing-battery", "SELECT number FROM issue") == [changxing]
    assert await _unfiltered(db, "hangzhou.center", "SELECT number FROM issue") == []
    # Events and custody follow their issue.
    events = await _unfiltered(db, "changxing.center", "SELECT DISTINCT issue_id FROM issue_event")
    custody = await _unfiltered(
        db, "changxing.center", "SELECT DISTINCT issue_id FROM issue_custody"
    )
    assert len(events) == len(custody) == 1
    # Counting cannot leak either.
    assert await _unfiltered(db, "hangzhou.center", "SELECT count(*) FROM issue") == ["0"]


async def test_enterprises_see_only_public_events_even_unfiltered(api: Api, db: Database) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    await step(api, "addIssueNote", issue, "xinshi.center", text="内部研判", public=False)
    public = await _unfiltered(db, "ent.xinshi-silk", "SELECT public FROM issue_event")
    assert public == ["True", "True"]


async def test_no_scope_means_no_rows(api: Api, db: Database) -> None:
    await _two_counties(api)
    async with db.read_reference() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM issue"))).scalar_one() == 0
        updated = await conn.execute(sa.text("UPDATE issue SET title = 'x'"))
        assert updated.rowcount == 0


async def test_unfiltered_update_touches_only_rows_in_scope(api: Api, db: Database) -> None:
    deqing, changxing = await _two_counties(api)
    async with db.read_reference() as conn:
        principal = await principal_for(conn, "changxing.center")
    assert principal is not None
    async with db.transaction(principal) as conn:
        result = await conn.execute(sa.text("UPDATE issue SET title = title || '!'"))
        assert result.rowcount == 1
        await conn.commit()
    async with db.admin.connect() as conn:
        titles = dict((await conn.execute(sa.text("SELECT number, title FROM issue"))).all())
    assert titles[changxing].endswith("!") and not titles[deqing].endswith("!")


async def test_the_application_role_cannot_bypass_row_level_security(db: Database) -> None:
    async with db.engine.connect() as conn:
        role = (
            await conn.execute(
                sa.text(
                    "SELECT rolsuper, rolbypassrls, current_user <> "
                    "(SELECT tableowner FROM pg_tables WHERE tablename = 'issue')"
                    " FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
        assert tuple(role) == (False, False, True)
    attempts = [
        "SET row_security = off; SELECT count(*) FROM issue",
        "ALTER TABLE issue DISABLE ROW LEVEL SECURITY",
        "DROP POLICY issue_select ON issue",
        "SET ROLE postgres",
        "ALTER ROLE closedloop_app BYPASSRLS",
    ]
    for sql in attempts:
        async with db.engine.connect() as conn:
            with pytest.raises(DBAPIError):
                for statement in sql.split("; "):
                    await conn.execute(sa.text(statement))


async def test_escalation_still_moves_a_row_out_of_the_callers_subtree(
    api: Api, db: Database
) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(api, "escalateIssue", issue, "xinshi.center", reason="上报县级")
    assert issue["holdingRegion"]["code"] == "330521"
    # The town still sees it (it originates there) but no longer holds it.
    assert await _unfiltered(db, "xinshi.center", "SELECT holding_region_code FROM issue") == [
        "330521"
    ]
