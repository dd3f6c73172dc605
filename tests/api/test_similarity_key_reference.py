"""A similarity key names an existing issue (migration 0022): the rule the foreign key kept,
now checked once per statement."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.identity.accounts import principal_for
from tests.api.issue_helpers import submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

AT = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def key(issue_id: int, value: int) -> dict[str, object]:
    return {"key": value, "county_code": "330521", "created_at": AT, "issue_id": issue_id}


async def keys_of(db: Database, issue_id: int) -> int:
    async with db.admin.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(t.issue_similarity_key.c.issue_id == issue_id)
        )
    return int(count or 0)


async def test_keys_name_an_existing_issue(api: Api, db: Database) -> None:
    await submit(api)
    async with db.admin.connect() as conn:
        issue_id = int(await conn.scalar(sa.select(sa.func.max(t.issue.c.id))) or 0)
    assert await keys_of(db, issue_id) > 0  # written with the issue

    # Keys for an issue that does not exist are refused, the whole statement.
    with pytest.raises(IntegrityError, match="does not exist"):
        async with db.system_transaction() as conn:
            await conn.execute(
                t.issue_similarity_key.insert(), [key(issue_id, 1), key(issue_id + 1000, 2)]
            )
    async with db.system_transaction() as conn:
        await conn.execute(t.issue_similarity_key.insert(), [key(issue_id, 3)])
        await conn.commit()

    # An issue with keys cannot be deleted; a cascading truncate takes the keys along.
    with pytest.raises(IntegrityError, match="still has similarity keys"):
        async with db.admin.begin() as conn:
            for child in ("issue_event", "issue_custody"):  # the other children first
                await conn.execute(
                    sa.text(f"DELETE FROM {child} WHERE issue_id = :i"), {"i": issue_id}
                )
            await conn.execute(sa.text("DELETE FROM issue WHERE id = :i"), {"i": issue_id})
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("TRUNCATE issue RESTART IDENTITY CASCADE"))
    assert await keys_of(db, issue_id) == 0


async def _issue_of(api: Api, db: Database, enterprise: str) -> int:
    await submit(api, as_=enterprise)
    async with db.admin.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.max(t.issue.c.id))) or 0)


async def test_the_request_role_writes_keys_only_for_issues_in_its_scope(
    api: Api, db: Database
) -> None:
    """The request role's keys are checked once per statement (migration 0029), not per
    row by its insert policy: a statement naming an issue outside the writer's scope, or
    none at all, is refused whole, with one answer for both."""
    xinshi = await _issue_of(api, db, "ent.xinshi-silk")  # 德清's
    changxing = await _issue_of(api, db, "ent.changxing-battery")  # 长兴's
    async with db.read_reference() as conn:
        deqing = await principal_for(conn, "deqing.center")
        enterprise = await principal_for(conn, "ent.xinshi-silk")
    assert deqing is not None and enterprise is not None
    written = {issue_id: await keys_of(db, issue_id) for issue_id in (xinshi, changxing)}
    refused = [
        (deqing, [xinshi, changxing]),
        (deqing, [changxing]),
        (deqing, [xinshi, changxing + 1000]),  # no such issue: the same answer
        (enterprise, [changxing]),
    ]
    for principal, issues in refused:
        with pytest.raises(IntegrityError, match="does not exist or is outside the writer's"):
            async with db.transaction(principal) as conn:
                await conn.execute(
                    t.issue_similarity_key.insert(),
                    [key(issue_id, n) for n, issue_id in enumerate(issues)],
                )
    for value, principal in enumerate((deqing, enterprise), start=100):
        async with db.transaction(principal) as conn:
            await conn.execute(t.issue_similarity_key.insert(), [key(xinshi, value)])
            await conn.commit()
    assert await keys_of(db, changxing) == written[changxing]  # none of the refused
    assert await keys_of(db, xinshi) == written[xinshi] + 2
