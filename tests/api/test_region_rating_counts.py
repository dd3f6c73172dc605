"""A region's scores count every rating on record of each issue from the issue's own row
(``issue.ratings_<grade>``, migration 0030), which a trigger on ``issue_rating`` keeps.

Worked out here in Python from the rating rows themselves, over generated issues of 德清's
towns (some merged, reopened or created outside the periods) whose ratings are then
re-graded, moved to another issue and deleted: the region statement's ratings must equal
the rows'. Fails when the trigger misses a kind of write, when the statement counts only
the current rating or only resolved issues' ratings, or reads no ratings at all. The
trigger refuses what it cannot count: a grade without a column, and a rating of an issue the
writer may not update."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.periods import month_period
from closedloop.services.evaluation.attribution import RATING_COLUMNS
from closedloop.services.evaluation.targets import TargetKind, peer_group
from tests.api.evaluation_helpers import DEQING, bj, counted_ratings, insert_issues

pytestmark = pytest.mark.usefixtures("clean_issues")

PERIODS = [month_period(2026, m) for m in (2, 3, 4)]
GRADES = tuple(RATING_COLUMNS)
STATES = ("ASSIGNED", "RESOLVED", "CLOSED", "REOPENED", "MERGED", "REJECTED")


def _bucket(at: dt.datetime) -> int | None:
    return next((n for n, p in enumerate(PERIODS) if p.start_at <= at < p.end_at), None)


async def _ratings_on_record(db: Database) -> list[dict[str, Any]]:
    r = t.issue_rating.c
    async with db.admin.connect() as conn:
        rows = await conn.execute(sa.select(r.issue_id, r.grade))
    return [dict(row._mapping) for row in rows]


async def _counts_on_issues(db: Database) -> dict[int, Counter[str]]:
    c = t.issue.c
    columns = [c[name] for name in t.ISSUE_RATING_COUNTS.values()]
    async with db.admin.connect() as conn:
        rows = await conn.execute(sa.select(c.id, *columns))
    return {
        row[0]: Counter({g: n for g, n in zip(t.ISSUE_RATING_COUNTS, row[1:], strict=True) if n})
        for row in rows
    }


async def test_region_ratings_equal_the_rating_rows(db: Database) -> None:
    rng = random.Random(30)
    async with db.admin.connect() as conn:
        group = await peer_group(conn, TargetKind.REGION, DEQING)
    towns = [x.key for x in group.targets][:6]
    specs = [
        {
            "origin_region_code": rng.choice([*towns, DEQING.code]),
            "created_at": bj(2026, 1, 15) + dt.timedelta(hours=rng.randrange(110 * 24)),
            "state": rng.choice(STATES),
        }
        for _ in range(90)
    ]
    issues = [
        {"id": i, **spec} for i, spec in zip(await insert_issues(db, specs), specs, strict=True)
    ]
    rows = [
        {
            "issue_id": issue["id"],
            "resolution": n,
            "resolved_at": issue["created_at"] + dt.timedelta(days=n),
            "region_code": DEQING.code,
            "grade": rng.choice(GRADES),
            "rated_at": issue["created_at"] + dt.timedelta(days=n),
        }
        for issue in issues
        for n in range(1, rng.randrange(5))
    ]
    async with db.admin.begin() as conn:
        await conn.execute(t.issue_rating.insert(), rows)
        # Each kind of write the trigger follows: a grade changed, a rating moved to
        # another issue, ratings deleted.
        r = t.issue_rating.c
        ids = [x for (x,) in await conn.execute(sa.select(r.id).order_by(r.id))]
        for x in ids[:10]:
            await conn.execute(
                t.issue_rating.update().where(r.id == x).values(grade=rng.choice(GRADES))
            )
        await conn.execute(
            t.issue_rating.update()
            .where(r.id == ids[10])
            .values(issue_id=issues[-1]["id"], resolution=99)
        )
        await conn.execute(t.issue_rating.delete().where(r.id.in_(ids[11:16])))

    on_record = await _ratings_on_record(db)
    by_issue: dict[int, Counter[str]] = {}
    for rating in on_record:
        by_issue.setdefault(rating["issue_id"], Counter())[rating["grade"]] += 1
    counts = await _counts_on_issues(db)
    assert counts == {i["id"]: by_issue.get(i["id"], Counter()) for i in issues}

    expected: dict[tuple[int, str], Counter[str]] = {}
    for issue in issues:
        n = _bucket(issue["created_at"])
        if n is None or issue["state"] == "MERGED" or issue["origin_region_code"] not in towns:
            continue
        expected.setdefault((n, issue["origin_region_code"]), Counter()).update(
            by_issue.get(issue["id"], Counter())
        )
    got = await counted_ratings(db, group, PERIODS)
    assert got == {k: v for k, v in expected.items() if v}
    # The data tells the formulations apart: ratings of issues not resolved now, and
    # issues rated more than once.
    unresolved = {i["id"] for i in issues if i["state"] not in ("RESOLVED", "CLOSED")}
    assert any(by_issue.get(x) for x in unresolved)
    assert sum(1 for x in by_issue.values() if x.total() > 1) >= 10


async def test_truncating_the_ratings_zeroes_the_counts(db: Database) -> None:
    (issue,) = await insert_issues(db, [{"state": "CLOSED"}])
    at = bj(2026, 2, 12)
    async with db.admin.begin() as conn:
        await conn.execute(
            t.issue_rating.insert().values(
                issue_id=issue,
                resolution=1,
                resolved_at=at,
                region_code=DEQING.code,
                grade=GRADES[0],
                rated_at=at,
            )
        )
    assert (await _counts_on_issues(db))[issue] == Counter({GRADES[0]: 1})
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("TRUNCATE issue_rating"))
    assert (await _counts_on_issues(db))[issue] == Counter()


async def test_the_trigger_refuses_what_it_cannot_count(db: Database) -> None:
    (issue,) = await insert_issues(db, [{"state": "CLOSED", "origin_region_code": "330522"}])
    at = bj(2026, 2, 12)
    row = {
        "issue_id": issue,
        "resolution": 1,
        "resolved_at": at,
        "region_code": "330522",
        "grade": GRADES[0],
        "rated_at": at,
    }
    with pytest.raises(DBAPIError, match="unknown grade"):
        async with db.admin.begin() as conn:
            await conn.execute(t.issue_rating.insert().values(**{**row, "grade": "EXCELLENT"}))
    # 德清's staff may not update an issue of 长兴: a rating of it is refused, not left
    # uncounted, even where the rating's own policy lets it through (the issue the writer
    # is acting on is visible to it, not updatable).
    deqing = Principal(
        account_id=1, username="c", display_name="c", role=Role.CENTER_STAFF, region_code="330521"
    )
    with pytest.raises(DBAPIError, match="outside the writer's scope"):
        async with db.transaction(deqing) as conn:
            await conn.execute(
                sa.text("SELECT set_config('closedloop.acting_on', :id, true)"),
                {"id": str(issue)},
            )
            await conn.execute(t.issue_rating.insert().values(**row))
    assert (await _counts_on_issues(db))[issue] == Counter()
