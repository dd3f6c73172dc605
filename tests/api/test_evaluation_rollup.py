"""The dashboard's monthly rollup: the same figures as aggregating the issues themselves,
never stale after a write (API mutations and plain SQL alike), scoped like the issues."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.domain.periods import parse_period
from closedloop.identity.accounts import principal_for
from closedloop.services.evaluation import rollup
from closedloop.services.evaluation.dashboard import dashboard
from closedloop.services.issues.sweeper import sweep
from closedloop.settings import Settings
from tests.api.evaluation_helpers import bj, insert_issues, unit
from tests.api.issue_helpers import step, submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

NOW = bj(2026, 3, 20, 12)
ORIGINS = (
    "33",
    "3301",
    "330106004",
    "3305",
    "330502100",
    "330521",
    "330521001",
    "330521102",
    "330522",
    "330522001",
)
STATES = (
    "SUBMITTED",
    "ACCEPTED",
    "ASSIGNED",
    "IN_PROGRESS",
    "REOPENED",
    "RESOLVED",
    "CLOSED",
    "REJECTED",
    "ROUTED_OUT",
    "MERGED",
)
OPEN = {"SUBMITTED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "REOPENED"}
GRADES = (None, "SATISFIED", "FAIRLY_SATISFIED", "BASICALLY_SATISFIED", "UNSATISFIED")
TAGS = ("用工", "用地", "用电", "融资", "其他")


async def principal(db: Database, username: str) -> Principal:
    async with db.read_reference() as conn:
        found = await principal_for(conn, username)
    assert found is not None
    return found


def _ancestors(code: str) -> list[str]:
    return [code[:n] for n in (2, 4, 6, 9) if n <= len(code)]


async def _random_issues(db: Database, seed: int, count: int) -> None:
    rng = random.Random(seed)
    boards = [await unit(db, t.board, r, "TALENT") for r in ("330521", "330521102", "330522")]
    departments = [await unit(db, t.department, r, "MARKET_REGULATION") for r in ("3305", "330521")]
    # Instants right at month boundaries (Beijing midnight) and at random.
    edges = [bj(2026, m, 1, 0, 0) for m in (1, 2, 3, 4)] + [bj(2025, 12, 31, 23, 59)]
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        origin = rng.choice(ORIGINS)
        state = rng.choice(STATES)
        created = (
            rng.choice(edges)
            if rng.random() < 0.1
            else bj(2025, 3, 1) + dt.timedelta(minutes=rng.randrange(60 * 24 * 420))
        )
        row: dict[str, Any] = {
            "origin_region_code": origin,
            "holding_region_code": rng.choice(_ancestors(origin)),
            "created_at": created,
            "state": state,
            "proactive": rng.random() < 0.2,
            "overdue": rng.random() < 0.2,
            "recurred": rng.random() < 0.1,
            "tags": rng.sample(TAGS, rng.randrange(3)),
            "board_id": rng.choice([None, *boards]),
            "department_id": rng.choice([None, None, *departments]),
        }
        if rng.random() < 0.6:
            row["assigned_at"] = created + dt.timedelta(days=1)
            row["assign_overdue"] = rng.random() < 0.2
        if state in ("RESOLVED", "CLOSED"):
            row["rating"] = rng.choice(GRADES)
        if state in OPEN and rng.random() < 0.7:
            warn = NOW + dt.timedelta(hours=rng.randrange(-96, 48))
            row |= {
                "clock_kind": rng.choice(["ASSIGN", "REPLY"]),
                "warn_at": warn,
                "due_at": warn + dt.timedelta(hours=rng.randrange(1, 72)),
            }
        rows.append(row)
    await insert_issues(db, rows)


async def _both(db: Database, who: str, region: str, period: str) -> tuple[Any, Any]:
    p = await principal(db, who)
    rolled = await dashboard(db, p, region, parse_period(period), NOW)
    live = await dashboard(db, p, region, parse_period(period), NOW, live=True)
    return rolled, live


@pytest.mark.parametrize("seed", [1, 2])
async def test_rollup_gives_the_live_figures(db: Database, seed: int) -> None:
    await _random_issues(db, seed, 400)
    for who, region, period in (
        ("province.monitor", "33", "2026-Q1"),
        ("province.monitor", "33", "2025"),
        ("huzhou.center", "3305", "2026-Q1"),
        ("huzhou.center", "3305", "2026-02"),
        ("huzhou.center", "3305", "2025-11-01..2026-02-28"),
        ("huzhou.evaluator", "330521", "2026-Q1"),
        ("deqing.center", "330521", "2026-03"),
        ("changxing.center", "330522", "2026"),
    ):
        assert rollup.serves(region, parse_period(period))
        rolled, live = await _both(db, who, region, period)
        assert rolled is not None and rolled.totals.total > 0, (region, period)
        assert rolled == live, (who, region, period)
    async with db.admin.connect() as conn:
        # What the readers read was refreshed; April 2026 was read by no one.
        read = rollup.Scope("33", dt.date(2025, 1, 1), dt.date(2026, 4, 1))
        assert not await rollup.pending(conn, read)
        assert await rollup.pending(
            conn, rollup.Scope("33", dt.date(2026, 4, 1), dt.date(2026, 5, 1))
        )


async def test_dashboards_the_rollup_cannot_serve_are_live(db: Database) -> None:
    for region, period in (("330521102", "2026-Q1"), ("3305", "2026-01-15..2026-02-14")):
        assert not rollup.serves(region, parse_period(period))


DASHBOARD = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") {
  totals { total open resolved yellowLights }
  byState { state count }
  children { region { code } figures { total } }
  topTags { tag count } trend { month figures { total } } } }"""


async def _totals(api: Api, region: str, as_: str = "huzhou.center") -> dict[str, Any]:
    data = await api.gql(DASHBOARD, {"r": region}, as_=as_)
    found: dict[str, Any] = data["dashboard"]
    return found


async def test_api_writes_show_at_once(api: Api, db: Database, clock: FrozenClock) -> None:
    clock.set(bj(2026, 2, 10, 10))
    before = await _totals(api, "3305")
    assert before["totals"]["total"] == 0
    issue = await submit(api, tags=["用工"])  # ent.xinshi-silk: 新市, a town of 德清
    after = await _totals(api, "3305")
    assert after["totals"]["total"] == 1 and after["totals"]["open"] == 1
    assert {s["state"]: s["count"] for s in after["byState"]}["SUBMITTED"] == 1
    assert after["topTags"] == [{"tag": "用工", "count": 1}]
    assert {c["region"]["code"]: c["figures"]["total"] for c in after["children"]}["330521"] == 1
    assert {m["month"]: m["figures"]["total"] for m in after["trend"]}["2026-02"] == 1

    await step(api, "acceptIssue", issue, "xinshi.center")
    states = {s["state"]: s["count"] for s in (await _totals(api, "330521"))["byState"]}
    assert (states["SUBMITTED"], states["ACCEPTED"]) == (0, 1)


async def test_trigger_marks_the_slices_a_write_touches(db: Database) -> None:
    (issue_id,) = await insert_issues(
        db, [{"origin_region_code": "330521102", "created_at": bj(2026, 1, 31, 23, 30)}]
    )
    dirty = t.issue_rollup_dirty.c

    async def marked() -> set[tuple[dt.date, str]]:
        async with db.admin.connect() as conn:
            rows = await conn.execute(sa.select(dirty.month, dirty.county_code))
            return {(r.month, r.county_code) for r in rows}

    async def refresh() -> None:
        async with db.admin.begin() as conn:
            await rollup.refresh_on(conn)

    # Beijing month: 23:30 on January 31 in Beijing is still January.
    assert await marked() == {(dt.date(2026, 1, 1), "330521")}
    await refresh()
    assert await marked() == set()
    async with db.admin.begin() as conn:
        # What the figures do not read (the sweeper's light bookkeeping, urges) marks nothing.
        await conn.execute(
            t.issue.update()
            .where(t.issue.c.id == issue_id)
            .values(light_notified="RED", urge_count=2)
        )
    assert await marked() == set()
    async with db.admin.begin() as conn:
        await conn.execute(
            t.issue.update()
            .where(t.issue.c.id == issue_id)
            .values(created_at=bj(2026, 2, 1, 0, 30), origin_region_code="330522001")
        )
    # Both the slice it left and the one it joined.
    assert await marked() == {(dt.date(2026, 1, 1), "330521"), (dt.date(2026, 2, 1), "330522")}
    await refresh()
    r = t.issue_rollup.c
    async with db.admin.connect() as conn:
        totals = await conn.execute(
            sa.select(r.month, r.county_code, r.total).where(r.dimension == "TOTAL")
        )
        assert [tuple(x) for x in totals] == [(dt.date(2026, 2, 1), "330522", 1)]
        await conn.execute(sa.text("TRUNCATE issue CASCADE"))
        await conn.commit()
        assert await conn.scalar(sa.select(sa.func.count()).select_from(t.issue_rollup)) == 0


async def test_sweeper_refreshes(db: Database, clock: FrozenClock, settings: Settings) -> None:
    clock.set(NOW)
    await insert_issues(db, [{"origin_region_code": "330521102"}, {"origin_region_code": "3305"}])
    assert (await sweep(db, clock, settings)).rollup_slices == 2
    assert (await sweep(db, clock, settings)).rollup_slices == 0


async def test_rollup_rows_are_scoped_like_the_issues(db: Database) -> None:
    await insert_issues(
        db, [{"origin_region_code": "330521102"}, {"origin_region_code": "330522001"}]
    )
    async with db.admin.begin() as conn:
        await rollup.refresh_on(conn)
    r = t.issue_rollup.c
    deqing = await principal(db, "deqing.center")
    async with db.read(deqing) as conn:
        seen = await conn.execute(sa.select(r.county_code).distinct())
        assert {x.county_code for x in seen} == {"330521"}
    for who in ("deqing.market", "ent.deqing-geo"):
        async with db.read(await principal(db, who)) as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(t.issue_rollup)) == 0
    # Only the system writes it.
    with pytest.raises(DBAPIError):
        async with db.transaction(deqing) as conn:
            await conn.execute(
                t.issue_rollup.insert().values(
                    month=dt.date(2026, 2, 1), county_code="330521", dimension="X", value=""
                )
            )


async def test_a_reader_refreshes_only_what_it_reads(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    await insert_issues(
        db,
        [
            {"origin_region_code": "330521102", "created_at": bj(2026, 2, 1)},
            {"origin_region_code": "330522001", "created_at": bj(2026, 2, 1)},
            {"origin_region_code": "330521102", "created_at": bj(2024, 1, 1)},  # not in trend
        ],
    )
    assert (await _totals(api, "330521", "deqing.center"))["totals"]["total"] == 1
    d = t.issue_rollup_dirty.c
    async with db.admin.connect() as conn:
        left = await conn.execute(sa.select(d.month, d.county_code).order_by(d.month))
        assert [tuple(x) for x in left] == [
            (dt.date(2024, 1, 1), "330521"),
            (dt.date(2026, 2, 1), "330522"),
        ]


def test_the_rollup_table_stores_every_figure() -> None:
    from closedloop.services.evaluation.figures import STORED_COLUMNS, marginals_statement

    # What the marginals statement computes is what the rollup has columns for.
    produced = marginals_statement([sa.true()], t.issue.c.origin_region_code, None)
    figures = set(produced.selected_columns.keys()) - {"dimension", "value", "name_zh", "name_en"}
    assert figures == set(STORED_COLUMNS)
    assert set(STORED_COLUMNS) <= set(t.issue_rollup.c.keys())
