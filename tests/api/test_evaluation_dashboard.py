"""The cockpit of 湖州 for 2026-Q1, drilled down to its counties and towns: hand-checked
figures, and the sums across levels (a region = its children + its own issues)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from tests.api.evaluation_helpers import (
    bj,
    clean_evaluation,  # noqa: F401  (fixture)
    insert_issues,
    insert_list_entries,
    list_entry,
    unit,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

NOW = bj(2026, 3, 20, 12)
FIGURES = """total proactive handled resolved open merged overdueResolved recurred
unratedResolved goodRatings yellowLights redLights resolutionRate satisfactionRate overdueRate
recurrenceRate proactiveRate"""
COUNTS = [
    "total",
    "proactive",
    "handled",
    "resolved",
    "open",
    "merged",
    "overdueResolved",
    "recurred",
    "unratedResolved",
    "goodRatings",
    "yellowLights",
    "redLights",
]

DASHBOARD = f"""query($region: String!, $period: String!) {{
  dashboard(region: $region, period: $period) {{
    region {{ code }} period {{ label }} asOf
    totals {{ {FIGURES} }}
    local {{ {FIGURES} }}
    children {{ region {{ code name }} figures {{ {FIGURES} }} }}
    byState {{ state label count }}
    byTier {{ tier label figures {{ total open redLights yellowLights }} }}
    boards {{ key name figures {{ total resolved }} }}
    departments {{ key name figures {{ total resolved }} }}
    topTags {{ tag count filter {{ tagsAny originWithin createdFrom createdTo states }}
      issues(first: 10) {{ totalCount }} }}
    redList {{ reason target {{ key }} }} blackList {{ reason target {{ key }} }}
    redCount blackCount
    trend {{ month figures {{ total resolved }} }} }} }}"""


async def _huzhou_data(db: Database) -> None:
    talent = {
        code: await unit(db, t.board, code, "TALENT") for code in ("330521102", "330521", "330522")
    }
    market = {
        code: await unit(db, t.department, code, "MARKET_REGULATION") for code in ("330521", "3305")
    }
    jan, feb, mar = bj(2026, 1, 15), bj(2026, 2, 15), bj(2026, 3, 10)
    yellow = {
        "clock_kind": "REPLY",
        "warn_at": NOW - dt.timedelta(days=1),
        "due_at": NOW + dt.timedelta(days=1),
    }
    red = {
        "clock_kind": "ASSIGN",
        "warn_at": NOW - dt.timedelta(days=3),
        "due_at": NOW - dt.timedelta(days=1),
    }
    xinshi = {"origin_region_code": "330521102"}
    rows: list[dict[str, Any]] = [
        # 1–3 in January, 新市 (a town of 德清)
        {
            **xinshi,
            "created_at": jan,
            "state": "CLOSED",
            "rating": "SATISFIED",
            "channel": "INSPECTION",
            "proactive": True,
            "tags": ["用工", "招聘"],
            "board_id": talent["330521102"],
            "holding_region_code": "330521102",
        },
        {
            **xinshi,
            "created_at": jan,
            "state": "RESOLVED",
            "overdue": True,
            "tags": ["用工"],
            "department_id": market["330521"],
            "holding_region_code": "330521",
        },
        {
            **xinshi,
            "created_at": jan,
            "state": "IN_PROGRESS",
            **yellow,
            "tags": ["用地"],
            "board_id": talent["330521"],
            "holding_region_code": "330521",
        },
        # 4–7 in February: escalated to the city and red; another town; 德清 itself; a dup
        {
            **xinshi,
            "created_at": feb,
            "state": "ACCEPTED",
            **red,
            "tags": ["用电"],
            "holding_region_code": "3305",
        },
        {
            "origin_region_code": "330521001",
            "created_at": feb,
            "state": "CLOSED",
            "rating": "UNSATISFIED",
            "recurred": True,
            "tags": ["用工"],
        },
        {"origin_region_code": "330521", "created_at": feb, "state": "SUBMITTED", "tags": ["融资"]},
        {**xinshi, "created_at": feb, "state": "MERGED", "tags": ["用工"]},
        # 8–12 in March: 长兴, 吴兴, 湖州 itself
        {
            "origin_region_code": "330522001",
            "created_at": mar,
            "state": "CLOSED",
            "rating": "BASICALLY_SATISFIED",
            "channel": "SYSTEM_CAPTURE",
            "proactive": True,
            "tags": ["用电", "用工"],
            "board_id": talent["330522"],
            "holding_region_code": "330522",
        },
        {
            "origin_region_code": "330522001",
            "created_at": mar,
            "state": "REJECTED",
            "tags": ["其他"],
        },
        {
            "origin_region_code": "330522001",
            "created_at": mar,
            "state": "IN_PROGRESS",
            **{**red, "clock_kind": "REPLY"},
            "tags": ["用地"],
            "holding_region_code": "33",
        },
        {"origin_region_code": "330502100", "created_at": mar, "state": "ROUTED_OUT"},
        {
            "origin_region_code": "3305",
            "created_at": mar,
            "state": "CLOSED",
            "rating": "FAIRLY_SATISFIED",
            "department_id": market["3305"],
        },
        # outside the quarter (in the trend only) and outside 湖州
        {**xinshi, "created_at": bj(2025, 12, 20), "state": "CLOSED", "tags": ["用工"]},
        {"origin_region_code": "330106004", "created_at": feb, "state": "CLOSED"},
    ]
    await insert_issues(db, rows)


def additive(parent: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    for name in COUNTS:
        assert parent[name] == sum(p[name] for p in parts), name


async def dashboard(api: Api, as_: str, region: str, period: str = "2026-Q1") -> Any:
    data = await api.gql(DASHBOARD, {"region": region, "period": period}, as_=as_)
    return data["dashboard"]


async def test_huzhou_dashboard_figures_and_drill_down(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    await _huzhou_data(db)
    await list_entry(
        api,
        "huzhou.evaluator",
        kind="RED",
        targetKind="REGION",
        regionCode="330521",
        reason="用工服务经验全市推广",
        listedOn="2026-02-01",
    )
    await insert_list_entries(db, "BLACK", "330522", 1, dt.date(2026, 3, 1))
    await insert_list_entries(db, "BLACK", "330522", 1, dt.date(2026, 4, 1))  # not this quarter
    await insert_list_entries(db, "RED", "330106", 1, dt.date(2026, 3, 1))  # not 湖州

    city = await dashboard(api, "huzhou.center", "3305")
    assert city["region"] == {"code": "3305"} and city["period"] == {"label": "2026-Q1"}
    totals = city["totals"]
    assert {k: totals[k] for k in COUNTS} == {
        "total": 11,
        "proactive": 2,
        "handled": 9,
        "resolved": 5,
        "open": 4,
        "merged": 1,
        "overdueResolved": 1,
        "recurred": 1,
        "unratedResolved": 1,
        "goodRatings": 4,
        "yellowLights": 1,
        "redLights": 2,
    }
    rates = {
        k: Decimal(totals[k])
        for k in (
            "resolutionRate",
            "satisfactionRate",
            "overdueRate",
            "recurrenceRate",
            "proactiveRate",
        )
    }
    # 5/9, 4/5 (满意 + 基本满意 + 比较满意 + 1 unrated), 1/9, 1/5, 2/11
    assert rates == {
        "resolutionRate": Decimal("55.56"),
        "satisfactionRate": Decimal("80.00"),
        "overdueRate": Decimal("11.11"),
        "recurrenceRate": Decimal("20.00"),
        "proactiveRate": Decimal("18.18"),
    }

    children = {c["region"]["code"]: c["figures"] for c in city["children"]}
    assert list(children) == ["330502", "330503", "330521", "330522", "330523"]
    assert {code: f["total"] for code, f in children.items()} == {
        "330502": 1,
        "330503": 0,
        "330521": 6,
        "330522": 3,
        "330523": 0,
    }
    assert city["local"]["total"] == 1  # the issue of an enterprise registered at 湖州 itself
    additive(totals, [*children.values(), city["local"]])

    states = {s["state"]: s["count"] for s in city["byState"]}
    assert states == {
        "SUBMITTED": 1,
        "ACCEPTED": 1,
        "ASSIGNED": 0,
        "IN_PROGRESS": 2,
        "RESOLVED": 1,
        "CLOSED": 4,
        "REJECTED": 1,
        "MERGED": 1,
        "ROUTED_OUT": 1,
        "REOPENED": 0,
    }
    assert next(s["label"] for s in city["byState"] if s["state"] == "CLOSED") == "已关闭"
    tiers = {x["tier"]: x["figures"] for x in city["byTier"]}
    assert {k: v["total"] for k, v in tiers.items()} == {
        "PROVINCE": 1,
        "CITY": 2,
        "COUNTY": 4,
        "TOWN": 4,
    }
    assert (tiers["PROVINCE"]["redLights"], tiers["CITY"]["redLights"]) == (1, 1)
    assert tiers["COUNTY"]["yellowLights"] == 1
    assert sum(v["total"] for v in tiers.values()) == totals["total"]

    assert [(b["key"], b["name"], b["figures"]["total"]) for b in city["boards"]] == [
        ("TALENT", "人才服务", 3)
    ]
    assert [
        (d["key"], d["figures"]["total"], d["figures"]["resolved"]) for d in city["departments"]
    ] == [("MARKET_REGULATION", 2, 2)]

    tags = [(x["tag"], x["count"]) for x in city["topTags"]]
    assert tags[0] == ("用工", 4)
    assert set(tags) == {
        ("用工", 4),
        ("用地", 2),
        ("用电", 2),
        ("招聘", 1),
        ("融资", 1),
        ("其他", 1),
    }
    # Each tag opens the issues behind it, with the filter a client can pass to issues().
    for x in city["topTags"]:
        assert x["issues"]["totalCount"] == x["count"]
        assert x["filter"]["tagsAny"] == [x["tag"]] and x["filter"]["originWithin"] == "3305"
        assert "MERGED" not in x["filter"]["states"]
    top = city["topTags"][0]["filter"]
    listed = await api.gql(
        """query($f: IssueFilterInput!) { issues(filter: $f) { totalCount } }""",
        {"f": top},
        as_="huzhou.center",
    )
    assert listed["issues"]["totalCount"] == 4

    assert [(e["reason"], e["target"]["key"]) for e in city["redList"]] == [
        ("用工服务经验全市推广", "330521")
    ]
    assert (city["redCount"], city["blackCount"]) == (1, 1)
    assert [e["target"]["key"] for e in city["blackList"]] == ["330522"]

    trend = {p["month"]: p["figures"]["total"] for p in city["trend"]}
    months = list(trend)
    assert (len(months), months[0], months[-1]) == (12, "2025-04", "2026-03")
    assert (trend["2025-12"], trend["2026-01"], trend["2026-02"], trend["2026-03"]) == (1, 3, 3, 5)
    assert trend["2026-01"] + trend["2026-02"] + trend["2026-03"] == totals["total"]

    # Drill down: each county's own dashboard is its row in the city's, and adds up in turn.
    for code, row in children.items():
        county = await dashboard(api, "huzhou.center", code)
        assert county["totals"] == row, code
        towns = [c["figures"] for c in county["children"]]
        additive(county["totals"], [*towns, county["local"]])
    deqing = await dashboard(api, "deqing.center", "330521")
    towns = {c["region"]["code"]: c["figures"] for c in deqing["children"]}
    assert len(towns) == 13
    assert (towns["330521102"]["total"], towns["330521102"]["merged"]) == (4, 1)
    assert towns["330521001"]["total"] == 1 and deqing["local"]["total"] == 1
    # ... and a town's dashboard is its row in the county's (a town has no children).
    xinshi = await dashboard(api, "xinshi.center", "330521102")
    assert xinshi["totals"] == towns["330521102"] == xinshi["local"]
    assert xinshi["children"] == []
    assert [b["key"] for b in xinshi["boards"]] == ["TALENT"]

    # The province sees 湖州 as one of its cities, with the same figures.
    province = await dashboard(api, "province.monitor", "33")
    cities = {c["region"]["code"]: c["figures"] for c in province["children"]}
    assert len(cities) == 11 and cities["3305"] == totals
    assert cities["3301"]["total"] == 1
    additive(province["totals"], [*cities.values(), province["local"]])


async def test_dashboard_scope_like_unknown_regions(api: Api, db: Database) -> None:
    await insert_issues(db, [{"origin_region_code": "330522001"}])
    for account, region in (
        ("deqing.center", "3305"),  # an ancestor
        ("changxing.center", "330521"),  # a sibling
        ("xinshi.center", "330521"),
        ("deqing.market", "330521"),  # a department handler has no dashboard
        ("ent.deqing-geo", "330521"),
        ("huzhou.center", "99"),  # does not exist
    ):
        assert await dashboard(api, account, region) is None, (account, region)
    mine = await dashboard(api, "changxing.center", "330522")
    assert mine["totals"]["total"] == 1
    bad = (
        await api.post(
            '{ dashboard(region: "3305", period: "2026-02-30..2026-03-01") { asOf } }',
            as_="huzhou.center",
        )
    ).json()
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_PERIOD"
    english = (
        await api.post(
            '{ dashboard(region: "3305", period: "last month") { asOf } }',
            as_="huzhou.center",
            headers={"Accept-Language": "en"},
        )
    ).json()
    assert "cannot be parsed" in english["errors"][0]["message"]


async def test_dashboard_costs_a_fixed_number_of_statements(api: Api, db: Database) -> None:
    from closedloop.services.evaluation.dashboard import _keeper
    from tests.api.test_query_counts import counting

    await insert_issues(db, [{"origin_region_code": "330521102", "tags": ["用工"]}])
    query = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") {
      totals { total } children { region { name } figures { total } }
      boards { key } departments { key } topTags { tag count }
      redList { target { name } } trend { month } } }"""
    await api.gql(query, {"r": "33"}, as_="province.monitor")  # warm the account cache
    cold, warm = [], []
    for region in ("33", "3305", "330521"):
        _keeper(db).forget()
        for costs in (cold, warm):
            with counting(db) as statements:
                await api.gql(query, {"r": region}, as_="province.monitor")
            costs.append(len(statements))
    # Whatever the number of children (11 cities, 5 counties, 13 towns): same statements;
    # a kept dashboard reads its region, its children and its slices' state in one
    # statement alone (no transaction, no scope), a computed one its figures and lists too.
    assert cold[0] == cold[1] == cold[2] and cold[0] <= 14, cold
    assert warm == [1, 1, 1], warm
