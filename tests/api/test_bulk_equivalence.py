"""The set-wise load (``bulk_submit.submit_many``) writes exactly the rows that
``commands.submit`` writes one record at a time: the issue with its number, its first
custody span, its ``SUBMITTED`` event, its similarity keys, the registered enterprises, the
number counters, and nothing else (every table of the database is compared).

The same input goes both ways, each into a fresh state of the database: one transaction as
the caller (the API's role under row-level security, its scope set), read back whole as the
owner inside that transaction, then rolled back, the identity sequences put back where they
were. The two paths therefore hand out the same ids, and their rows must be equal, column
for column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Principal
from closedloop.db.database import Database, set_scope
from closedloop.domain.errors import IssueCommandError
from closedloop.domain.issues import Category, Channel
from closedloop.identity.accounts import principal_for
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.services.issues import bulk_submit, commands
from closedloop.services.issues.commands import SubmitIssue
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.settings import Settings
from tests.api.channel_helpers import new_channel
from tests.conftest import T0

pytestmark = pytest.mark.usefixtures("clean_issues")

GEO = credit_code(DEMO_ENTERPRISES[0].base17)  # 德清地信科技, 330521001
SILK = credit_code(DEMO_ENTERPRISES[1].base17)  # 新市丝绸织造, 330521102
CHANGXING = credit_code(DEMO_ENTERPRISES[2].base17)  # 长兴: outside 德清
MINSU = credit_code("91330521MA5BULK01")  # new, registered by the batch (this module only)
FARM = credit_code("91330521MA5BULK02")  # new, registered by the batch (this module only)

Rows = dict[str, list[tuple[Any, ...]]]
Path = Callable[[CommandTx, list[bulk_submit.Submission]], Awaitable[list[bulk_submit.Result]]]


def submissions(channel: Channel | None) -> list[bulk_submit.Submission]:
    """Known and new enterprises (one registered twice), two years (two counters per
    origin), tags to clean, categories or none, external ids or none, and bad records."""

    def cmd(n: int, code: str, **extra: Any) -> SubmitIssue:
        fields: dict[str, Any] = {
            "title": f" 第{n}号：厂区道路破损影响通行 ",
            "content": f"第{n}号来电：武康街道某路段路面塌陷{n}天，重型货车无法进出厂区。",
            "channel": channel,
            "credit_code": code,
            "external_id": f"R-{n:03d}",
        }
        fields.update(extra)
        return SubmitIssue(**fields)

    at = [T0 - dt.timedelta(days=70 - n) for n in range(12)]  # some in 2025, some in 2026
    return [
        bulk_submit.Submission(cmd(0, GEO, tags=["交通", " 交通 ", "基础设施"]), at[0]),
        bulk_submit.Submission(cmd(1, SILK.lower(), category=Category.COMPLAINT), at[1]),
        bulk_submit.Submission(
            cmd(2, MINSU, enterprise_name="德清莫干山民宿", enterprise_region="330521115"), at[2]
        ),
        bulk_submit.Submission(cmd(3, MINSU, external_id=None), at[3]),
        bulk_submit.Submission(cmd(4, CHANGXING), at[4]),  # out of scope
        bulk_submit.Submission(cmd(5, GEO, title=""), at[5]),  # no title
        bulk_submit.Submission(cmd(6, GEO, credit_code=GEO[:-1] + "0"), at[6]),  # check digit
        bulk_submit.Submission(cmd(7, SILK, external_id="R-001"), at[7]),  # taken above
        bulk_submit.Submission(
            cmd(8, FARM, enterprise_name="德清农庄", enterprise_region="330521102"), at[8]
        ),
        bulk_submit.Submission(cmd(9, FARM, category=Category.SUGGESTION, tags=["农业"]), at[9]),
        bulk_submit.Submission(cmd(10, GEO, enterprise_region="999999"), at[10]),
        bulk_submit.Submission(cmd(11, SILK, content="同上"), at[11]),
    ]


async def one_by_one(
    tx: CommandTx, items: list[bulk_submit.Submission]
) -> list[bulk_submit.Result]:
    """``commands.submit`` per record, at its own time, a savepoint each (a refused record
    leaves nothing behind)."""
    out: list[bulk_submit.Result] = []
    for item in items:
        one = CommandTx(tx.conn, tx.principal, item.at, tx.settings)
        try:
            async with tx.conn.begin_nested():
                out.append(await commands.submit(one, item.cmd))
        except IssueCommandError as exc:
            out.append(exc)
    return out


async def set_wise(tx: CommandTx, items: list[bulk_submit.Submission]) -> list[bulk_submit.Result]:
    return await bulk_submit.submit_many(tx, items)


async def everything(conn: AsyncConnection) -> Rows:
    """Every row of every table (the owner reads past row-level security)."""
    tables = (
        await conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        )
    ).scalars()
    out: Rows = {}
    for table in tables:
        rows = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
        out[table] = sorted((tuple(frozen(v) for v in r) for r in rows), key=repr)
    return out


def frozen(value: Any) -> Any:
    """A column's value, hashable (arrays and JSON as tuples)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    return value


async def sequences(conn: AsyncConnection) -> list[tuple[str, int | None]]:
    rows = await conn.execute(
        sa.text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
    )
    return [(name, value) for name, value in rows]


async def written(
    db: Database,
    principal: Principal,
    settings: Settings,
    items: list[bulk_submit.Submission],
    path: Path,
) -> tuple[list[Any], Rows, Rows]:
    """What ``path`` answers and the rows it adds and removes, undone afterwards."""
    async with db.admin.connect() as conn:
        before_sequences = await sequences(conn)
        before = await everything(conn)
        await conn.execute(sa.text(f"SET LOCAL ROLE {settings.app_db_user}"))
        await set_scope(conn, principal)
        tx = CommandTx(conn, principal, T0, settings)
        results = await path(tx, items)
        await conn.execute(sa.text("RESET ROLE"))
        after = await everything(conn)
        await conn.rollback()
        for name, value in before_sequences:  # sequences are not transactional
            if value is None:
                await conn.execute(sa.text(f"ALTER SEQUENCE {name} RESTART"))
            else:
                await conn.execute(sa.text("SELECT setval(:n, :v)"), {"n": name, "v": value})
        await conn.commit()
    answers = [
        (r.code, r.field, r.detail) if isinstance(r, IssueCommandError) else r for r in results
    ]
    added = {t: sorted(set(after[t]) - set(before[t]), key=repr) for t in after}
    removed = {t: sorted(set(before[t]) - set(after[t]), key=repr) for t in before}
    return answers, {t: r for t, r in added.items() if r}, {t: r for t, r in removed.items() if r}


async def assert_same_rows(
    db: Database, principal: Principal, settings: Settings, channel: Channel | None
) -> None:
    items = submissions(channel)
    bulk = await written(db, principal, settings, items, set_wise)
    single = await written(db, principal, settings, items, one_by_one)
    answers, added, removed = bulk
    assert answers == single[0]
    assert sum(isinstance(a, int) for a in answers) == 8, answers
    assert set(added) == {
        "enterprise",
        "issue",
        "issue_custody",
        "issue_event",
        "issue_number",
        "issue_rollup_dirty",  # the rollup's trigger marks the slices
        "issue_similarity_key",
    }, added.keys()
    assert [len(added[t]) for t in ("issue", "issue_custody", "issue_event")] == [8, 8, 8]
    assert len(added["enterprise"]) == 2
    assert len(added["issue_similarity_key"]) > 8 * 30
    for table in added:
        assert added[table] == single[1].get(table), table
    assert removed == single[2]


async def test_the_set_wise_load_writes_what_submit_writes_for_staff(
    db: Database, settings: Settings
) -> None:
    async with db.read_reference() as conn:
        staff = await principal_for(conn, "deqing.center")
    assert staff is not None
    await assert_same_rows(db, staff, settings, Channel.HOTLINE_12345)


async def test_the_set_wise_load_writes_what_submit_writes_for_a_channel_system(
    db: Database, settings: Settings, clock: Any
) -> None:
    creds = await new_channel(db, clock, channel="QIXIAOBANG")
    async with db.read_reference() as conn:
        system = await principal_for(conn, creds.client_id)
    assert system is not None
    await assert_same_rows(db, system, settings, Channel.QIXIAOBANG)
