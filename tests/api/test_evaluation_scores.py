"""Scores through the GraphQL API, worked by hand from the Huzhou 2024 scheme's rules.

Huzhou rules (closedloop/data/schemes/huzhou_2024.json), points rounded half-up to 2 places:
  PROACTIVE_DISCOVERY_RATE   5  proactive/total, rank among peers: 5 − 0.1 × (rank − 1)
  OVERDUE_RESOLUTION_RATE   10  overdue_resolved/handled: 10 − 0.1 × rate
  RESOLUTION_RATE           15  resolved/handled: 15 − 0.1 × (100 − rate)
  RECURRENCE_RATE           10  recurred/resolved: 10 − 0.1 × rate
  SATISFACTION_RATE         10  (satisfied grades + unrated)/resolved: 10 − 0.1 × (100 − rate)
  ENTERPRISE_REVIEW         10  external points 0..10
  INVESTMENT_APPROVAL_TIMEL 10  four checks: 10 − 2 × failed
  POLICY_FULFILMENT_RATE    10  paid/budgeted: 10 − 0.1 × (100 − rate)
  PERSONALIZED              20  external rank: 20 − 0.5 × (rank − 1)
  RED_LIST +1 each, BLACK_LIST −1 each; every indicator and the total floor at 0.
  Empty denominators score full points (EMPTY); a missing external input scores 0 (MISSING).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.schema.relay import to_global_id
from tests.api.evaluation_helpers import (
    bj,
    by_key,
    clean_evaluation,  # noqa: F401  (fixture)
    indicator,
    insert_issues,
    insert_list_entries,
    list_entry,
    many,
    record,
    record_ok,
    scores,
    unit,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

Q1 = "2026-Q1"
CHECKS_3_OF_4 = [
    {"key": "ON_PLATFORM", "met": True},
    {"key": "ONLINE_APPLICATION", "met": True},
    {"key": "SYSTEMS_CONNECTED", "met": False},
    {"key": "ONLINE_APPROVAL", "met": True},
]


def expect(entry: dict[str, Any], key: str, **values: Any) -> None:
    found = indicator(entry, key)
    for name, value in values.items():
        got = found[name]
        if isinstance(value, str) and got is not None and name != "status":
            assert Decimal(got) == Decimal(value), (key, name, got, value)
        else:
            assert got == value, (key, name, got, value)


async def _county_data(db: Database) -> None:
    closed = {"state": "CLOSED", "created_at": bj(2026, 2, 1)}
    proactive = {"channel": "INSPECTION", "proactive": True}
    # 德清 330521: 10 issues. 4 proactive; 9 handled (one REJECTED); 8 resolved, 2 of them
    # late while held inside 德清 (a town, the county itself), 1 recurred; ratings 4×满意
    # (1 via the recurrence), 1×比较满意, 1×基本满意, 1×不满意, 1 unrated → 7 good of 8.
    deqing = [
        {**closed, **proactive, "rating": "SATISFIED", "overdue_at": "330521102"},
        {**closed, **proactive, "rating": "SATISFIED", "overdue_at": "330521"},
        {**closed, **proactive, "rating": "SATISFIED", "recurred": True},
        {**closed, **proactive, "rating": "SATISFIED"},
        {**closed, "rating": "FAIRLY_SATISFIED"},
        {**closed, "rating": "BASICALLY_SATISFIED"},
        {**closed, "rating": "UNSATISFIED"},
        # 23:59 on 31 March in Beijing is still Q1 (15:59 UTC).
        {"state": "RESOLVED", "created_at": bj(2026, 3, 31, 23, 59)},
        {"state": "IN_PROGRESS", "created_at": bj(2026, 1, 1, 0, 0)},
        {"state": "REJECTED"},
    ]
    # Not counted: a merged duplicate, an issue of 1 April 00:00 Beijing, one of 湖州 itself.
    excluded = [
        {"state": "MERGED"},
        {**closed, "created_at": bj(2026, 4, 1, 0, 0)},
        {**closed, "origin_region_code": "3305"},
    ]
    # 长兴 330522: 5 issues, 2 proactive, all resolved in time, unrated (good).
    changxing = [
        *many(2, **closed, **proactive, origin_region_code="330522"),
        *many(3, **closed, origin_region_code="330522"),
    ]
    # 吴兴 330502: 4 issues, 3 proactive; 1 resolved — late in a town, recurred, unsatisfied.
    wuxing = [
        {
            **closed,
            **proactive,
            "origin_region_code": "330502",
            "rating": "UNSATISFIED",
            "recurred": True,
            "overdue_at": "330502001",
        },
        *many(2, state="IN_PROGRESS", origin_region_code="330502", **proactive),
        {"state": "IN_PROGRESS", "origin_region_code": "330502"},
    ]
    await insert_issues(db, deqing + excluded + changxing + wuxing)


async def test_counties_of_huzhou_worked_example(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(bj(2026, 4, 10))
    await _county_data(db)
    ev = "huzhou.evaluator"
    region = {"targetKind": "REGION", "regionCode": "330521", "period": Q1}
    await record_ok(api, ev, indicator="ENTERPRISE_REVIEW", value={"points": "8.5"}, **region)
    await record_ok(
        api,
        ev,
        indicator="INVESTMENT_APPROVAL_TIMELINESS",
        value={"checks": CHECKS_3_OF_4},
        **region,
    )
    await record_ok(
        api,
        ev,
        indicator="POLICY_FULFILMENT_RATE",
        value={"numerator": "45", "denominator": "50"},
        **region,
    )
    await record_ok(api, ev, indicator="PERSONALIZED", value={"rank": 3}, **region)
    red = await list_entry(
        api,
        ev,
        kind="RED",
        targetKind="REGION",
        regionCode="330521",
        reason="企业用工难题一地突破，全市推广",
        listedOn="2026-03-15",
    )
    assert red["errors"] == []
    for n in range(2):
        black = await list_entry(
            api,
            ev,
            kind="BLACK",
            targetKind="REGION",
            regionCode="330522",
            reason=f"办理进展缓慢 {n}",
            listedOn="2026-02-10",
        )
        assert black["errors"] == []
    # 25 black entries push 吴兴 below zero: the total floors at 0.
    await insert_list_entries(db, "BLACK", "330502", 25, dt.date(2026, 3, 1))
    # Outside the quarter: not counted.
    await insert_list_entries(db, "RED", "330522", 3, dt.date(2026, 4, 1))

    board = await scores(api, ev, "REGION", "3305", Q1)
    assert board is not None
    assert board["period"] == {
        "label": "2026-Q1",
        "start": "2026-01-01",
        "end": "2026-04-01",
        "lastDay": "2026-03-31",
    }
    entries = by_key(board)
    assert set(entries) == {"330502", "330503", "330521", "330522", "330523"}

    deqing = entries["330521"]
    assert deqing["counters"] | {"ratings": None} == {
        "total": 10,
        "proactive": 4,
        "handled": 9,
        "resolved": 8,
        "overdueResolved": 2,
        "recurred": 1,
        "unratedResolved": 1,
        "goodRatings": 7,
        "ratings": None,
    }
    # 4/10 = 40 %, rank 2 (tied with 长兴) → 5 − 0.1 = 4.90
    expect(deqing, "PROACTIVE_DISCOVERY_RATE", rate="40", rank=2, points="4.9")
    # 2/9 = 22.22 % → 10 − 2.2222 = 7.7778 → 7.78
    expect(
        deqing,
        "OVERDUE_RESOLUTION_RATE",
        rate="22.22",
        numerator="2",
        denominator="9",
        points="7.78",
        deduction="2.22",
    )
    # 8/9 = 88.89 % → 15 − 1.1111 = 13.8889 → 13.89
    expect(deqing, "RESOLUTION_RATE", rate="88.89", points="13.89", deduction="1.11")
    # 1/8 = 12.5 % → 10 − 1.25 = 8.75
    expect(deqing, "RECURRENCE_RATE", rate="12.5", points="8.75")
    # (4 + 1 + 1 + 1 unrated)/8 = 87.5 % → 10 − 1.25 = 8.75
    expect(deqing, "SATISFACTION_RATE", rate="87.5", points="8.75", status="SCORED")
    expect(deqing, "ENTERPRISE_REVIEW", points="8.5", status="SCORED")
    # one check of four failed → 10 − 2 = 8
    expect(deqing, "INVESTMENT_APPROVAL_TIMELINESS", points="8")
    # 45/50 = 90 % → 10 − 1 = 9
    expect(deqing, "POLICY_FULFILMENT_RATE", rate="90", points="9")
    # rank 3 → 20 − 0.5 × 2 = 19
    expect(deqing, "PERSONALIZED", rank=3, points="19")
    assert indicator(deqing, "PERSONALIZED")["input"]["rank"] == 3
    # 4.90 + 7.78 + 13.89 + 8.75 + 8.75 + 8.5 + 8 + 9 + 19 = 88.57; +1 red = 89.57
    assert Decimal(deqing["subtotal"]) == Decimal("88.57")
    assert {a["key"]: (a["count"], Decimal(a["points"])) for a in deqing["adjustments"]} == {
        "RED_LIST": (1, Decimal(1)),
        "BLACK_LIST": (0, Decimal(0)),
    }
    assert Decimal(deqing["total"]) == Decimal("89.57") and deqing["rank"] == 1

    changxing = entries["330522"]
    expect(changxing, "PROACTIVE_DISCOVERY_RATE", rate="40", rank=2, points="4.9")
    expect(changxing, "OVERDUE_RESOLUTION_RATE", rate="0", points="10")
    expect(changxing, "RESOLUTION_RATE", rate="100", points="15")
    expect(changxing, "SATISFACTION_RATE", rate="100", points="10")
    for key in ("ENTERPRISE_REVIEW", "INVESTMENT_APPROVAL_TIMELINESS", "PERSONALIZED"):
        expect(changxing, key, status="MISSING", points="0")
    # 4.9 + 10 + 15 + 10 + 10 = 49.9; 2 black entries → 47.9 (the April red ones don't count)
    assert Decimal(changxing["total"]) == Decimal("47.9") and changxing["rank"] == 2

    wuxing = entries["330502"]
    # 3/4 = 75 %, rank 1 → 5
    expect(wuxing, "PROACTIVE_DISCOVERY_RATE", rate="75", rank=1, points="5")
    expect(wuxing, "RESOLUTION_RATE", rate="25", points="7.5")
    expect(wuxing, "OVERDUE_RESOLUTION_RATE", rate="25", points="7.5")
    # 100 % recurred and 0 % satisfied: both floor at 0, not below
    expect(wuxing, "RECURRENCE_RATE", rate="100", points="0", deduction="10")
    expect(wuxing, "SATISFACTION_RATE", rate="0", points="0")
    # subtotal 20; 25 black entries → −5, floored at 0
    assert Decimal(wuxing["subtotal"]) == Decimal(20)
    assert Decimal(wuxing["total"]) == Decimal(0) and wuxing["rank"] == 5

    # No issues at all: every platform rate is empty, no rank; the plan's text gives full
    # points only where nothing went wrong (overdue, recurrence): 10 + 10; inputs missing.
    for code in ("330503", "330523"):
        empty = entries[code]
        expect(empty, "PROACTIVE_DISCOVERY_RATE", status="EMPTY", rank=None, points="0")
        expect(empty, "RESOLUTION_RATE", status="EMPTY", rate=None, points="0")
        expect(empty, "OVERDUE_RESOLUTION_RATE", status="EMPTY", rate=None, points="10")
        assert Decimal(empty["total"]) == Decimal(20)
        assert empty["rank"] == 3  # tied, and the next rank is 5
    assert [e["target"]["key"] for e in board["entries"]] == [
        "330521",
        "330522",
        "330503",
        "330523",
        "330502",
    ]


async def _department_data(db: Database) -> dict[str, int]:
    region = "330521"
    ids = {
        "market": await unit(db, t.department, region, "MARKET_REGULATION"),
        "ip": await unit(db, t.board, region, "IP"),
        "talent_board": await unit(db, t.board, region, "TALENT"),
        "hr": await unit(db, t.department, region, "HUMAN_RESOURCES"),
        "general": await unit(db, t.board, region, "GENERAL"),
    }
    at = {"assigned_at": bj(2026, 2, 3), "handling_level": "BOARD"}
    done = {**at, "state": "CLOSED"}
    proactive = {"channel": "SERVICE_STAFF", "proactive": True}
    market = ids["market"]
    rows = [
        # 市场监管: 3 direct + 2 through the IP board it leads. 1 proactive; 4 resolved, one
        # after its limit; ratings 2×满意, 1×基本满意, 1 unrated.
        {**done, **proactive, "department_id": market, "rating": "SATISFIED"},
        {**done, "department_id": market, "rating": "SATISFIED", "overdue": True},
        {**at, "state": "IN_PROGRESS", "department_id": market},
        {**done, "board_id": ids["ip"], "rating": "BASICALLY_SATISFIED"},
        {**done, "board_id": ids["ip"]},
        # 人才办 through the TALENT board: 4, 2 proactive, all resolved in time, 1 recurred,
        # 1 unsatisfied.
        *many(2, **done, **proactive, board_id=ids["talent_board"]),
        {**done, "board_id": ids["talent_board"], "recurred": True},
        {**done, "board_id": ids["talent_board"], "rating": "UNSATISFIED"},
        # 人社: 2, 1 proactive, none resolved.
        {**at, **proactive, "state": "ASSIGNED", "department_id": ids["hr"]},
        {**at, "state": "IN_PROGRESS", "department_id": ids["hr"]},
        # Not counted: the GENERAL board is led by the reform office; an assignment in
        # December; a merged duplicate.
        {**done, "board_id": ids["general"]},
        {**done, "department_id": market, "assigned_at": bj(2025, 12, 20)},
        {**at, "state": "MERGED", "department_id": market},
    ]
    await insert_issues(db, rows)
    return ids


async def test_departments_of_deqing_worked_example(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(bj(2026, 4, 10))
    ids = await _department_data(db)
    market = str(to_global_id("Department", ids["market"]))
    target = {"targetKind": "DEPARTMENT", "departmentId": market, "period": Q1}
    ev = "deqing.evaluator"
    await record_ok(api, ev, indicator="ENTERPRISE_REVIEW", value={"points": "10"}, **target)
    first = await record_ok(api, ev, indicator="PERSONALIZED", value={"rank": 5}, **target)
    clock.advance(dt.timedelta(hours=1))
    # The province's ranking was corrected: the new record supersedes the first.
    second = await record_ok(api, ev, indicator="PERSONALIZED", value={"rank": 2}, **target)
    assert second["current"] and second["recordedByName"] == "德清县委改革办评价员"

    board = await scores(api, ev, "DEPARTMENT", "330521", "2026-01-01..2026-03-31")
    assert board is not None and board["targetKind"] == "DEPARTMENT"
    entries = by_key(board)
    assert len(entries) == 16 and all(e["target"]["isKey"] for e in entries.values())

    m = entries["MARKET_REGULATION"]
    assert m["target"]["department"] == {"key": "MARKET_REGULATION"}
    assert m["counters"]["total"] == 5 and m["counters"]["resolved"] == 4
    # 1/5 = 20 %: rank 3 behind two tied at 50 % → 5 − 0.2 = 4.8
    expect(m, "PROACTIVE_DISCOVERY_RATE", rate="20", rank=3, points="4.8")
    # 1/5 = 20 % overdue → 8; 4/5 = 80 % resolved → 15 − 2 = 13
    expect(m, "OVERDUE_RESOLUTION_RATE", rate="20", points="8")
    expect(m, "RESOLUTION_RATE", rate="80", points="13")
    expect(m, "RECURRENCE_RATE", rate="0", points="10")
    expect(m, "SATISFACTION_RATE", rate="100", points="10")
    expect(m, "ENTERPRISE_REVIEW", points="10")
    # the current record (rank 2): 20 − 0.5 = 19.5
    expect(m, "PERSONALIZED", rank=2, points="19.5")
    # 4.8 + 8 + 13 + 10 + 10 + 10 + 19.5 = 75.3
    assert Decimal(m["total"]) == Decimal("75.3") and m["rank"] == 1

    talent = entries["TALENT_OFFICE"]
    expect(talent, "PROACTIVE_DISCOVERY_RATE", rate="50", rank=1, points="5")
    expect(talent, "RECURRENCE_RATE", rate="25", points="7.5")
    expect(talent, "SATISFACTION_RATE", rate="75", points="7.5")
    # 5 + 10 + 15 + 7.5 + 7.5 = 45
    assert Decimal(talent["total"]) == Decimal(45) and talent["rank"] == 2

    hr = entries["HUMAN_RESOURCES"]
    expect(hr, "PROACTIVE_DISCOVERY_RATE", rate="50", rank=1, points="5")
    # nothing resolved: 0 % → 15 − 10 = 5; recurrence and satisfaction have nothing to
    # measure: no recurrence happened (full 10), no satisfaction was reached (0)
    expect(hr, "RESOLUTION_RATE", rate="0", points="5")
    expect(hr, "RECURRENCE_RATE", status="EMPTY", points="10")
    expect(hr, "SATISFACTION_RATE", status="EMPTY", rate=None, rank=None, points="0")
    assert Decimal(hr["total"]) == Decimal(30) and hr["rank"] == 3

    # the 13 departments without issues rank below every one that worked: no rank points
    # (主动发现率), no resolution or satisfaction reached; 10 + 10 for nothing gone wrong
    idle = [
        e
        for k, e in entries.items()
        if k not in ("MARKET_REGULATION", "TALENT_OFFICE", "HUMAN_RESOURCES")
    ]
    assert {(Decimal(e["total"]), e["rank"]) for e in idle} == {(Decimal(20), 4)}
    assert {indicator(e, "PROACTIVE_DISCOVERY_RATE")["rank"] for e in idle} == {None}

    # The superseded record stays in the history.
    history = await api.gql(
        """query($id: ID!) { node(id: $id) { ... on IndicatorRecord { current
             supersededBy { id } history { id current value { rank } } } } }""",
        {"id": first["id"]},
        as_=ev,
    )
    node = history["node"]
    assert node["current"] is False and node["supersededBy"]["id"] == second["id"]
    assert [(h["current"], h["value"]["rank"]) for h in node["history"]] == [(True, 2), (False, 5)]


async def test_history_of_a_department_across_months(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(bj(2026, 4, 10))
    market = await unit(db, t.department, "330521", "MARKET_REGULATION")
    at = {"department_id": market, "handling_level": "BOARD"}
    await insert_issues(
        db,
        [
            {**at, "state": "CLOSED", "assigned_at": bj(2026, 1, 5)},
            {**at, "state": "IN_PROGRESS", "assigned_at": bj(2026, 3, 5)},
            {**at, "state": "CLOSED", "assigned_at": bj(2026, 3, 6), "overdue": True},
        ],
    )
    data = await api.gql(
        """query($t: String!) { scoreHistory(targetKind: DEPARTMENT, region: "330521",
             target: $t, period: "2026-03", periods: 3) {
             target { key name } points { period { label } peers
               score { rank total counters { total resolved overdueResolved } } } } }""",
        {"t": str(to_global_id("Department", market))},
        as_="huzhou.evaluator",
    )
    history = data["scoreHistory"]
    assert history["target"] == {"key": "MARKET_REGULATION", "name": "市场监管"}
    points = [
        (
            p["period"]["label"],
            p["peers"],
            p["score"]["counters"]["total"],
            Decimal(p["score"]["total"]),
        )
        for p in history["points"]
    ]
    # Jan: 1 resolved in time → 50. Feb: nothing → 10 + 10 (no overdue, no recurrence) = 20.
    # Mar: 2 handled, 1 resolved, late → overdue 50 % → 5; resolution 50 % → 10; proactive
    # 0 % → rank 1 alone → 5: total 40.
    assert points == [
        ("2026-01", 16, 1, Decimal(50)),
        ("2026-02", 16, 0, Decimal(20)),
        ("2026-03", 16, 2, Decimal(40)),
    ]
    ranks = [p["score"]["rank"] for p in history["points"]]
    assert ranks == [1, 1, 1]  # every peer idle in February: all tied at 20


async def test_scores_scope_and_bad_arguments(api: Api) -> None:
    # A county evaluator cannot see the ranking of its city's counties: like an unknown region.
    assert await scores(api, "deqing.evaluator", "REGION", "3305", Q1) is None
    assert await scores(api, "deqing.evaluator", "REGION", "99", Q1) is None
    assert await scores(api, "changxing.center", "DEPARTMENT", "330521", Q1) is None
    # Enterprises and handlers have no score.read.
    assert await scores(api, "ent.deqing-geo", "DEPARTMENT", "330521", Q1) is None
    assert await scores(api, "deqing.market", "DEPARTMENT", "330521", Q1) is None
    # The monitor sees everything; a town has no children to rank.
    town = await scores(api, "province.monitor", "REGION", "330521102", Q1)
    assert town is not None and town["entries"] == []
    cities = await scores(api, "province.monitor", "REGION", "33", "2026")
    assert cities is not None and len(cities["entries"]) == 11

    for variables, code in (
        ({"region": "3305", "period": "2026-13"}, "INVALID_PERIOD"),
        ({"region": "3305", "period": "Q1"}, "INVALID_PERIOD"),
        ({"region": "3305", "period": Q1, "scheme": "NO_SUCH"}, "UNKNOWN_SCHEME"),
        ({"region": "33x", "period": Q1}, "INVALID_REGION_CODE"),
    ):
        body = (
            await api.post(
                """query($region: String!, $period: String!, $scheme: String! = "HUZHOU_2024") {
                  scores(targetKind: REGION, region: $region, period: $period, scheme: $scheme)
                  { entries { rank } } }""",
                variables,
                as_="huzhou.evaluator",
            )
        ).json()
        assert body["errors"][0]["extensions"]["code"] == code, body
    anonymous = (
        await api.post(
            '{ scores(targetKind: REGION, region: "33", period: "2026") { entries { rank } } }'
        )
    ).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_hotline_scheme_is_data_not_code(api: Api, db: Database, clock: FrozenClock) -> None:
    """The 12345 three-rate scheme scores the same issues with its own rules."""
    clock.set(bj(2026, 4, 10))
    await insert_issues(
        db,
        [
            {"state": "CLOSED", "assigned_at": bj(2026, 2, 1), "rating": "SATISFIED"},
            {"state": "CLOSED", "assigned_at": bj(2026, 2, 1), "assign_overdue": True},
            {"state": "IN_PROGRESS", "assigned_at": bj(2026, 2, 1), "rating": None},
            {"state": "CLOSED", "assigned_at": bj(2026, 2, 1), "rating": "UNSATISFIED"},
        ],
    )
    board = await scores(api, "huzhou.evaluator", "REGION", "3305", Q1, scheme="HOTLINE_12345")
    assert board is not None and board["scheme"] == {"key": "HOTLINE_12345", "maxTotal": "100"}
    deqing = by_key(board)["330521"]
    # responded in time 3/4 = 75 % → 30 − 12.5 = 17.5; resolved 3/4 → 40 − 12.5 = 27.5;
    # satisfied 1 of 2 rated = 50 % → 30 − 25 = 5 (unrated issues are not counted here)
    expect(deqing, "RESPONSE_RATE", rate="75", points="17.5")
    expect(deqing, "RESOLUTION_RATE", rate="75", points="27.5")
    expect(deqing, "SATISFACTION_RATE", rate="50", points="5")
    assert Decimal(deqing["total"]) == Decimal(50)
    assert [a["key"] for a in deqing["adjustments"]] == []


async def test_record_indicator_errors_record_nothing(api: Api, db: Database) -> None:
    market = str(
        to_global_id("Department", await unit(db, t.department, "330521", "MARKET_REGULATION"))
    )
    changxing_market = str(
        to_global_id("Department", await unit(db, t.department, "330522", "MARKET_REGULATION"))
    )
    base: dict[str, Any] = {
        "targetKind": "DEPARTMENT",
        "departmentId": market,
        "period": Q1,
        "indicator": "ENTERPRISE_REVIEW",
        "value": {"points": "8"},
    }
    cases: list[tuple[str, dict[str, Any], str, str | None]] = [
        ("deqing.evaluator", {"scheme": "NO_SUCH"}, "UNKNOWN_SCHEME", "scheme"),
        ("deqing.evaluator", {"indicator": "NO_SUCH"}, "UNKNOWN_INDICATOR", "indicator"),
        ("deqing.evaluator", {"indicator": "RESOLUTION_RATE"}, "NOT_EXTERNAL", "indicator"),
        ("deqing.evaluator", {"period": "2026-Q5"}, "INVALID_PERIOD", "period"),
        ("deqing.evaluator", {"value": {"points": "10.01"}}, "ABOVE_MAXIMUM", "value.points"),
        ("deqing.evaluator", {"value": {"points": "-1"}}, "NEGATIVE_VALUE", "value.points"),
        ("deqing.evaluator", {"value": {}}, "WRONG_INPUT_KIND", "value"),
        ("deqing.evaluator", {"value": {"points": "1", "rank": 1}}, "WRONG_INPUT_KIND", "value"),
        ("deqing.evaluator", {"value": {"rank": 2}}, "WRONG_INPUT_KIND", "value"),
        (
            "deqing.evaluator",
            {"indicator": "POLICY_FULFILMENT_RATE", "value": {"numerator": "30"}},
            "NUMERATOR_WITHOUT_DENOMINATOR",
            "value.denominator",
        ),
        (
            "deqing.evaluator",
            {
                "indicator": "POLICY_FULFILMENT_RATE",
                "value": {"numerator": "30", "denominator": "0"},
            },
            "NUMERATOR_WITHOUT_DENOMINATOR",
            "value.denominator",
        ),
        (
            "deqing.evaluator",
            {"indicator": "INVESTMENT_APPROVAL_TIMELINESS", "value": {"checks": CHECKS_3_OF_4[:3]}},
            "MISSING_CHECK",
            "value.checks",
        ),
        (
            "deqing.evaluator",
            {
                "indicator": "INVESTMENT_APPROVAL_TIMELINESS",
                "value": {"checks": [*CHECKS_3_OF_4, {"key": "EXTRA", "met": True}]},
            },
            "UNKNOWN_CHECK",
            "value.checks",
        ),
        (
            "deqing.evaluator",
            {"indicator": "PERSONALIZED", "value": {"rank": 0}},
            "RANK_BELOW_ONE",
            "value.rank",
        ),
        # Out of scope answers like a target that does not exist.
        (
            "deqing.evaluator",
            {"departmentId": changxing_market},
            "TARGET_NOT_FOUND",
            "departmentId",
        ),
        ("deqing.evaluator", {"departmentId": "bm90LWFuLWlk"}, "TARGET_NOT_FOUND", "departmentId"),
        (
            "deqing.evaluator",
            {"targetKind": "REGION", "departmentId": None, "regionCode": "330522"},
            "TARGET_NOT_FOUND",
            "regionCode",
        ),
        (
            "deqing.evaluator",
            {"targetKind": "REGION", "departmentId": None, "regionCode": "3305"},
            "TARGET_NOT_FOUND",
            "regionCode",
        ),
        ("deqing.evaluator", {"targetKind": "REGION"}, "INVALID_TARGET", "regionCode"),
        # Center staff see the scores but do not record them.
        ("deqing.center", {}, "PERMISSION_DENIED", "departmentId"),
        ("ent.deqing-geo", {}, "TARGET_NOT_FOUND", "departmentId"),
    ]
    for account, change, code, field in cases:
        result = await record(api, account, **{**base, **change})
        assert result["record"] is None, (change, result)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], change
        assert result["errors"][0]["message"]
    async with db.admin.connect() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(t.indicator_record))
        assert count.scalar_one() == 0
    # English messages on request.
    english = await api.gql(
        """mutation($input: RecordIndicatorInput!) { recordIndicator(input: $input) {
             errors { code message } } }""",
        {"input": {**base, "value": {"points": "11"}}},
        as_="deqing.evaluator",
        headers={"Accept-Language": "en"},
    )
    assert "maximum" in english["recordIndicator"]["errors"][0]["message"]


async def test_list_entries_validation_and_listing(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(bj(2026, 3, 20))
    [issue_id] = await insert_issues(db, [{"state": "CLOSED"}])
    [other] = await insert_issues(db, [{"state": "CLOSED", "origin_region_code": "330522"}])
    base = {"kind": "RED", "targetKind": "REGION", "regionCode": "330521", "reason": "典型案例"}
    ok = await list_entry(
        api, "deqing.evaluator", **base, issueId=str(to_global_id("Issue", issue_id))
    )
    assert ok["errors"] == []
    entry = ok["entry"]
    assert entry["kind"] == "RED" and entry["kindLabel"] == "红榜"
    assert entry["listedOn"] == "2026-03-20" and entry["addedByName"] == "德清县委改革办评价员"
    assert entry["target"] == {
        "kind": "REGION",
        "key": "330521",
        "regionCode": "330521",
        "name": "德清县",
    }
    assert entry["issue"]["id"] == str(to_global_id("Issue", issue_id))

    bad = [
        ({"reason": "  "}, "REQUIRED", "reason"),
        ({"reason": "x" * 2001}, "TOO_LONG", "reason"),
        ({"listedOn": "2026-03-21"}, "INVALID_DATE", "listedOn"),
        ({"issueId": str(to_global_id("Issue", other))}, "ISSUE_NOT_FOUND", "issueId"),
        ({"issueId": "garbage"}, "ISSUE_NOT_FOUND", "issueId"),
        ({"caseId": str(to_global_id("Case", 999))}, "CASE_NOT_FOUND", "caseId"),
        ({"regionCode": "330522"}, "TARGET_NOT_FOUND", "regionCode"),
    ]
    for change, code, field in bad:
        result = await list_entry(api, "deqing.evaluator", **{**base, **change})
        assert result["entry"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], change
    denied = await list_entry(api, "deqing.center", **base)
    assert [e["code"] for e in denied["errors"]] == ["PERMISSION_DENIED"]

    listed = await api.gql(
        """{ listEntries(region: "3305", period: "2026-03") { kind reason target { key } } }""",
        as_="huzhou.evaluator",
    )
    assert listed["listEntries"] == [
        {"kind": "RED", "reason": "典型案例", "target": {"key": "330521"}}
    ]
    hidden = await api.gql(
        """{ listEntries(region: "3305", period: "2026-03") { kind } }""", as_="changxing.center"
    )
    assert hidden["listEntries"] == []


async def test_scores_cost_a_fixed_number_of_statements(api: Api, db: Database) -> None:
    from tests.api.test_query_counts import counting

    await insert_issues(db, [{"state": "CLOSED"}, {"origin_region_code": "330522001"}])
    query = """query($kind: EvaluationTargetKind!, $r: String!) {
      scores(targetKind: $kind, region: $r, period: "2026-Q1") { entries { rank total
        target { name region { name } department { name } }
        indicators { key points input { kind } } counters { total } } } }"""
    await api.gql(query, {"kind": "REGION", "r": "33"}, as_="province.monitor")  # warm up
    costs = []
    for kind, region in (
        ("REGION", "33"),
        ("REGION", "3305"),
        ("REGION", "330521"),
        ("DEPARTMENT", "3305"),
        ("DEPARTMENT", "330521"),
    ):
        with counting(db) as statements:
            data = await api.gql(query, {"kind": kind, "r": region}, as_="province.monitor")
        assert data["scores"]["entries"]
        costs.append(len(statements))
    # 11 cities, 5 counties, 13 towns: the same handful of statements; departments (two
    # reference look-ups more: the boards they lead, and their names) likewise.
    assert costs[0] == costs[1] == costs[2] and costs[3] == costs[4], costs
    assert max(costs) <= 10, costs


async def test_history_of_a_region_and_unknown_targets(api: Api, db: Database) -> None:
    await insert_issues(
        db, [{"state": "CLOSED"}, {"state": "CLOSED", "created_at": bj(2025, 11, 3)}]
    )
    query = """query($kind: EvaluationTargetKind!, $t: String!) {
      scoreHistory(targetKind: $kind, region: "3305", target: $t, period: "2026-Q1",
        periods: 2) { target { key name } points { period { label } peers
          score { rank counters { total } } } } }"""
    data = await api.gql(query, {"kind": "REGION", "t": "330521"}, as_="huzhou.evaluator")
    history = data["scoreHistory"]
    assert history["target"] == {"key": "330521", "name": "德清县"}
    assert [
        (p["period"]["label"], p["peers"], p["score"]["counters"]["total"])
        for p in history["points"]
    ] == [("2025-Q4", 5, 1), ("2026-Q1", 5, 1)]
    # Not one of the group's targets, or outside the caller's scope: null.
    assert (await api.gql(query, {"kind": "REGION", "t": "330106"}, as_="huzhou.evaluator"))[
        "scoreHistory"
    ] is None
    assert (await api.gql(query, {"kind": "REGION", "t": "330521"}, as_="deqing.evaluator"))[
        "scoreHistory"
    ] is None
    bad = await api.post(query, {"kind": "DEPARTMENT", "t": "330521"}, as_="huzhou.evaluator")
    assert bad.json()["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
