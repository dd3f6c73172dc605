"""The attribution rules (closedloop/services/evaluation/attribution.py, A1–A6), one test
each, with issues driven through the real mutations and the frozen clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from closedloop.domain.clock import FrozenClock
from tests.api.evaluation_helpers import (
    by_key,
    clean_evaluation,  # noqa: F401  (fixture)
    scores,
)
from tests.api.issue_helpers import ok, step, submit, unit_id
from tests.conftest import DEMO_CREDIT, Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

MONTH = "2026-03"  # the frozen clock starts on 2 March 2026
XINSHI = "330521102"
DEQING_GEO_TOWN = "330521001"  # where ent.deqing-geo is registered


def counters(board: dict[str, Any] | None, key: str) -> dict[str, Any]:
    assert board is not None
    found: dict[str, Any] = by_key(board)[key]["counters"]
    return found


async def on_behalf(api: Api, as_: str, **extra: Any) -> dict[str, Any]:
    body = {
        "title": "企业反映用地指标问题",
        "content": "扩建项目缺少用地指标，请协调。",
        "channel": "CENTER_WINDOW",
        "creditCode": DEMO_CREDIT,
        **extra,
    }
    return await ok(api, "submitIssue", body, as_)


async def test_a1_merged_duplicates_never_count_the_primary_once(api: Api) -> None:
    primary = await submit(api, title="园区道路封闭", content="东路施工封闭半年")
    dups = [await submit(api, title=f"园区道路封闭{n}", content="东路施工封路") for n in range(2)]
    primary = await step(api, "acceptIssue", primary, "xinshi.center")
    primary = await ok(
        api,
        "mergeIssues",
        {
            "primaryId": primary["id"],
            "primaryVersion": primary["version"],
            "duplicates": [{"id": d["id"], "expectedVersion": d["version"]} for d in dups],
        },
        "xinshi.center",
    )
    await step(api, "resolveIssue", primary, "xinshi.center", reply="已协调开放临时通道")
    towns = await scores(api, "deqing.evaluator", "REGION", "330521", MONTH)
    found = counters(towns, XINSHI)
    assert (found["total"], found["handled"], found["resolved"]) == (1, 1, 1)


async def test_a2_settled_in_channel_counts_as_resolved_and_unrated(api: Api) -> None:
    await on_behalf(api, "deqing.center", settledResult="热线直接答复")
    towns = await scores(api, "deqing.evaluator", "REGION", "330521", MONTH)
    found = counters(towns, DEQING_GEO_TOWN)
    assert (found["total"], found["resolved"], found["unratedResolved"], found["goodRatings"]) == (
        1,
        1,
        1,
        1,
    )


async def test_a3_a5_departments_by_current_assignment_and_led_boards(
    api: Api, clock: FrozenClock
) -> None:
    region = "330521"
    ip = await unit_id(api, region, "boards", "IP")
    talent = await unit_id(api, region, "boards", "TALENT")
    general = await unit_id(api, region, "boards", "GENERAL")
    market = await unit_id(api, region, "departments", "MARKET_REGULATION")
    issues = [await on_behalf(api, "deqing.center") for _ in range(3)]
    issues.append(await on_behalf(api, "deqing.center", channel="SERVICE_STAFF"))
    issues = [await step(api, "acceptIssue", i, "deqing.center") for i in issues]
    via_board, handed_back, general_one, direct = issues
    via_board = await step(api, "assignIssue", via_board, "deqing.center", boardId=ip)
    handed_back = await step(api, "assignIssue", handed_back, "deqing.center", departmentId=market)
    await step(api, "handBackIssue", handed_back, "deqing.market", reason="非本部门职责")
    # The handler no longer sees it once handed back: the center reads the new version.
    handed_back = (
        await api.gql(
            "query($id: ID!) { issue(id: $id) { id version } }",
            {"id": handed_back["id"]},
            as_="deqing.center",
        )
    )["issue"]
    await step(api, "assignIssue", handed_back, "deqing.center", boardId=talent)
    await step(api, "assignIssue", general_one, "deqing.center", boardId=general)
    await step(api, "assignIssue", direct, "deqing.center", departmentId=market)
    # Past the 15-day reply limit: resolved, but late (A5: issue.overdue).
    clock.advance(dt.timedelta(days=16))
    await step(api, "resolveIssue", via_board, "deqing.center", reply="已办结")

    board = await scores(api, "deqing.evaluator", "DEPARTMENT", region, MONTH)
    assert board is not None
    m = counters(board, "MARKET_REGULATION")
    # the IP board's issue and the direct one; the handed-back one left with its hand-back
    assert (m["total"], m["proactive"], m["resolved"], m["overdueResolved"]) == (2, 1, 1, 1)
    assert counters(board, "TALENT_OFFICE")["total"] == 1  # re-assigned to the TALENT board
    # The GENERAL board is led by the reform office: no department answers for it.
    assert sum(e["counters"]["total"] for e in board["entries"]) == 3


async def test_a4_a6_regions_by_origin_lateness_by_holder(api: Api, clock: FrozenClock) -> None:
    # X: late at the town (assignment limit), escalated, then replied in time by the county.
    x = await step(api, "acceptIssue", await submit(api), "xinshi.center")
    clock.advance(dt.timedelta(days=3))
    x = await step(api, "escalateIssue", x, "xinshi.center", reason="镇级无法解决")
    talent = await unit_id(api, "330521", "boards", "TALENT")
    x = await step(api, "assignIssue", x, "deqing.center", boardId=talent)
    x = await step(api, "resolveIssue", x, "deqing.center", reply="已解决")
    assert x["overdue"] is False
    # Y: in time at the town and the county, late at the city.
    y = await step(api, "acceptIssue", await submit(api, title="用电增容"), "xinshi.center")
    y = await step(api, "escalateIssue", y, "xinshi.center", reason="需县级协调")
    y = await step(api, "escalateIssue", y, "deqing.center", reason="需市级协调")
    clock.advance(dt.timedelta(days=3))
    y = await step(api, "resolveIssue", y, "huzhou.center", reply="市级协调解决")
    assert y["overdue"] is True and y["holdingRegion"]["code"] == "3305"
    # W: from another town of 德清, delegated down to 新市: it stays that town's issue.
    w = await step(api, "acceptIssue", await on_behalf(api, "deqing.center"), "deqing.center")
    await step(
        api,
        "delegateIssue",
        w,
        "deqing.center",
        toRegion=XINSHI,
        dueAt=(clock.now() + dt.timedelta(days=1)).isoformat(),
    )
    # Z: 长兴.
    await submit(api, as_="ent.changxing-battery", title="电池项目环评")

    towns = await scores(api, "deqing.evaluator", "REGION", "330521", MONTH)
    xinshi = counters(towns, XINSHI)
    # A4: Y counts for 新市 although the city holds it; W does not although 新市 holds it.
    # A6: X was late while 新市 held it; Y's lateness belongs to the city.
    assert (xinshi["total"], xinshi["resolved"], xinshi["overdueResolved"]) == (2, 2, 1)
    assert counters(towns, DEQING_GEO_TOWN)["total"] == 1

    counties = await scores(api, "huzhou.evaluator", "REGION", "3305", MONTH)
    deqing = counters(counties, "330521")
    # X's lateness (a town of 德清) is 德清's; Y's (the city) is not.
    assert (deqing["total"], deqing["resolved"], deqing["overdueResolved"]) == (3, 2, 1)
    assert counters(counties, "330522")["total"] == 1

    cities = await scores(api, "province.monitor", "REGION", "33", MONTH)
    huzhou = counters(cities, "3305")
    # Both lateness episodes happened inside 湖州's subtree.
    assert (huzhou["total"], huzhou["resolved"], huzhou["overdueResolved"]) == (4, 2, 2)

    # The dashboard describes rather than blames: the issue's own flag (resolved after its
    # limit) for Y only, the same at every level so the levels add up.
    for account, code in (("huzhou.center", "3305"), ("deqing.center", "330521")):
        data = await api.gql(
            'query($r: String!) { dashboard(region: $r, period: "2026-03") '
            "{ totals { total overdueResolved } } }",
            {"r": code},
            as_=account,
        )
        assert data["dashboard"]["totals"] == {
            "total": 4 if code == "3305" else 3,
            "overdueResolved": 1,
        }
