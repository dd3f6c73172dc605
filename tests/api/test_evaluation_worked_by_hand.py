"""The hand-computed example of issue #17, through the GraphQL API against PostgreSQL.

Three departments of 德清 (330521) in March 2026 (the frozen clock starts on 2 March):

- 市场监管 (MARKET_REGULATION, "A") receives issue P, lets its 15-day reply limit run out,
  and hands it back after the deadline; the center reassigns P to 人社 (HUMAN_RESOURCES,
  "B"), which resolves it the same minute. A also resolves a proactive issue R in time.
- 人社 (B) resolves issue Q; the enterprise rates it 不满意, which reopens it; the center
  assigns it to B again, B resolves it again and the enterprise rates it 满意.
- 人才办 (TALENT_OFFICE, "C") has no issue at all (nor have the 13 other departments).

Every figure below is worked out by hand beside the assertion, with the plan's clause
(湖委办〔2024〕1号, 附件 涉企问题高效闭环解决评价指数) it follows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from closedloop.domain.clock import FrozenClock
from tests.api.evaluation_helpers import by_key, clean_evaluation  # noqa: F401  (fixture)
from tests.api.issue_helpers import ok, step, unit_id
from tests.conftest import DEMO_CREDIT, Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

REGION = "330521"
MONTH = "2026-03"
ENTERPRISE = "ent.deqing-geo"  # holds DEMO_CREDIT

SCORES = """query($scheme: String!) {
  scores(targetKind: DEPARTMENT, region: "330521", period: "2026-03", scheme: $scheme) {
    entries { rank total target { key }
      counters { total proactive handled resolved overdueResolved unratedResolved goodRatings
        ratings { grade count } }
      indicators { key status statusReason rate numerator denominator rank points } } } }"""

CUSTODY = """query($id: ID!) { issue(id: $id) {
  overdue
  custody { handlingLevel lapsedLimits overdueSeconds department { key } board { key } }
  ratings { resolution grade ratedByName department { key } } } }"""


async def _issue(api: Api, channel: str = "CENTER_WINDOW") -> dict[str, Any]:
    issue = await ok(
        api,
        "submitIssue",
        {
            "title": "企业反映用工招聘问题",
            "content": "扩产缺少熟练工人，请协助对接招聘。",
            "channel": channel,
            "creditCode": DEMO_CREDIT,
        },
        "deqing.center",
    )
    return await step(api, "acceptIssue", issue, "deqing.center")


async def _current(api: Api, issue: dict[str, Any]) -> dict[str, Any]:
    data = await api.gql(
        "query($id: ID!) { issue(id: $id) { id version } }", {"id": issue["id"]}, as_="admin"
    )
    found: dict[str, Any] = data["issue"]
    return found


def _indicator(entry: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in entry["indicators"] if i["key"] == key)
    return found


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


async def _scores(api: Api, scheme: str) -> dict[str, dict[str, Any]]:
    data = await api.gql(SCORES, {"scheme": scheme}, as_="deqing.evaluator")
    return by_key(data["scores"])


async def test_the_worked_example(api: Api, clock: FrozenClock) -> None:
    a = await unit_id(api, REGION, "departments", "MARKET_REGULATION")
    b = await unit_id(api, REGION, "departments", "HUMAN_RESOURCES")

    # P: assigned to A on 2 March; the reply limit (15 days) passes on 17 March.
    p = await step(api, "assignIssue", await _issue(api), "deqing.center", departmentId=a)
    # R: proactive (a service officer found it), assigned to A and resolved in time.
    r = await _issue(api, channel="SERVICE_STAFF")
    r = await step(api, "assignIssue", r, "deqing.center", departmentId=a)
    await step(api, "resolveIssue", r, "deqing.market", reply="已协调解决")
    # Q: assigned to B, resolved in time, rated 不满意 → reopened.
    q = await step(api, "assignIssue", await _issue(api), "deqing.center", departmentId=b)
    q = await step(api, "resolveIssue", q, "deqing.center", reply="已答复")
    q = await step(api, "rateIssue", q, ENTERPRISE, grade="UNSATISFIED", comment="未解决")
    assert q["state"] == "REOPENED"

    # 18 March, a day after P's deadline: A hands P back; the center reassigns it to B,
    # which resolves it the same minute.
    clock.advance(dt.timedelta(days=16))
    await step(api, "handBackIssue", p, "deqing.market", reason="非本部门职责")
    p = await step(api, "assignIssue", await _current(api, p), "deqing.center", departmentId=b)
    p = await step(api, "resolveIssue", p, "deqing.center", reply="已对接招聘会")
    assert p["overdue"] is True  # the issue itself was resolved after its limit
    # Q again: assigned to B, resolved, rated 满意.
    q = await step(api, "assignIssue", q, "deqing.center", departmentId=b)
    q = await step(api, "resolveIssue", q, "deqing.center", reply="已安排专场招聘")
    q = await step(api, "rateIssue", q, ENTERPRISE, grade="SATISFIED")

    # The ledger: P's deadline fell in A's span, so the lapse and the late day are A's.
    data = await api.gql(CUSTODY, {"id": p["id"]}, as_="deqing.center")
    spans = [
        (
            s["handlingLevel"],
            (s["department"] or {}).get("key"),
            s["lapsedLimits"],
            s["overdueSeconds"],
        )
        for s in data["issue"]["custody"]
    ]
    assert spans == [
        ("CENTER", None, 0, 0),
        ("BOARD", "MARKET_REGULATION", 1, 86_400),  # due 17 March, handed back on 18 March
        ("CENTER", None, 0, 0),
        ("BOARD", "HUMAN_RESOURCES", 0, 0),
    ]
    # Q's ratings stay on record, each with the resolution it rated and who resolved it.
    data = await api.gql(CUSTODY, {"id": q["id"]}, as_="deqing.center")
    assert [
        (x["resolution"], x["grade"], x["ratedByName"], x["department"]["key"])
        for x in data["issue"]["ratings"]
    ] == [
        (1, "UNSATISFIED", "德清地信科技有限公司", "HUMAN_RESOURCES"),
        (2, "SATISFIED", "德清地信科技有限公司", "HUMAN_RESOURCES"),
    ]

    entries = await _scores(api, "HUZHOU_2024")
    market, hr, talent = (
        entries["MARKET_REGULATION"],
        entries["HUMAN_RESOURCES"],
        entries["TALENT_OFFICE"],
    )

    # A (市场监管): P (charged with its lapse, handed back, not resolved by A) and R.
    assert market["counters"] | {"ratings": None} == {
        "total": 2,
        "proactive": 1,
        "handled": 2,
        "resolved": 1,  # R; P was resolved by B
        "overdueResolved": 1,  # P: the limit ran out while A held it
        "unratedResolved": 1,  # R
        "goodRatings": 1,
        "ratings": None,
    }
    # B (人社): P (received late, resolved at once: not B's lateness) and Q (twice rated).
    assert hr["counters"] | {"ratings": None} == {
        "total": 2,
        "proactive": 0,
        "handled": 2,
        "resolved": 2,
        "overdueResolved": 0,
        "unratedResolved": 1,  # P
        "goodRatings": 2,  # Q's 满意 and P unrated
        "ratings": None,
    }
    assert {x["grade"]: x["count"] for x in hr["counters"]["ratings"] if x["count"]} == {
        "SATISFIED": 1,
        "UNSATISFIED": 1,
    }

    # (status, rate, rank among the targets that have a rate, points)
    def row(entry: dict[str, Any], key: str) -> tuple[Any, ...]:
        i = _indicator(entry, key)
        return (i["status"], _d(i["rate"]), i["rank"], _d(i["points"]))

    # 主动发现率 — "主动发现问题数/问题总数*100%"; "按照部门比例从高到低排序，排名第1位得满分，
    # 每降低1位扣0.1分". A 1/2 = 50 % rank 1 → 5; B 0/2 = 0 % rank 2 → 4.9; C has no rate, so
    # no place in the ranking and no points (the ranks are among the two that have a rate).
    assert row(market, "PROACTIVE_DISCOVERY_RATE") == ("SCORED", Decimal(50), 1, Decimal(5))
    assert row(hr, "PROACTIVE_DISCOVERY_RATE") == ("SCORED", Decimal(0), 2, Decimal("4.9"))
    assert row(talent, "PROACTIVE_DISCOVERY_RATE") == ("EMPTY", None, None, Decimal(0))
    assert _indicator(talent, "PROACTIVE_DISCOVERY_RATE")["statusReason"] == (
        "问题总数为 0，无可计算数据"
    )

    # 超时办结率 — "超时办结问题数/办理问题总数*100%"; "未发生超时办结问题得满分，每增加1个百分点的
    # 超时办结率扣0.1分". A 1/2 = 50 % → 10 − 5 = 5; B 0/2 → 10; C: nothing handled, no
    # overdue resolution happened → 10 (the text's "未发生").
    assert row(market, "OVERDUE_RESOLUTION_RATE") == ("SCORED", Decimal(50), 2, Decimal(5))
    assert row(hr, "OVERDUE_RESOLUTION_RATE") == ("SCORED", Decimal(0), 1, Decimal(10))
    assert row(talent, "OVERDUE_RESOLUTION_RATE") == ("EMPTY", None, None, Decimal(10))

    # 问题办结率 — "办结问题数/办理问题总数*100%"; "问题100%解决得满分，每降低1个百分点扣0.1分".
    # A 1/2 = 50 % → 15 − 5 = 10; B 2/2 → 15; C: no rate reached → 0.
    assert row(market, "RESOLUTION_RATE") == ("SCORED", Decimal(50), 2, Decimal(10))
    assert row(hr, "RESOLUTION_RATE") == ("SCORED", Decimal(100), 1, Decimal(15))
    assert row(talent, "RESOLUTION_RATE") == ("EMPTY", None, None, Decimal(0))

    # 重发复发率 — "问题解决后重发复发数/办结问题数*100%"; "未发生重发复发问题得满分". A 0/1, B 0/2
    # → 10; C: none happened → 10.
    assert row(market, "RECURRENCE_RATE")[3] == row(hr, "RECURRENCE_RATE")[3] == Decimal(10)
    assert row(talent, "RECURRENCE_RATE") == ("EMPTY", None, None, Decimal(10))

    # 企业满意率 — "办结问题好评数/办结问题数*100%"; "评价分为满意、比较满意、基本满意、不满意4档";
    # "对企业反映问题诉求实行一事一评…未作评价的默认为好评". Every rated resolution counts: B has
    # Q's 不满意 and Q's 满意 and P unrated: good 2 of 3 resolutions = 66.67 % → 10 − 3.33 =
    # 6.67. A: R unrated → 1/1 = 100 % → 10. C: nothing resolved, no rate reached → 0.
    hr_satisfaction = _indicator(hr, "SATISFACTION_RATE")
    assert (hr_satisfaction["numerator"], hr_satisfaction["denominator"]) == ("2", "3")
    assert row(hr, "SATISFACTION_RATE") == ("SCORED", Decimal("66.67"), 2, Decimal("6.67"))
    assert row(market, "SATISFACTION_RATE") == ("SCORED", Decimal(100), 1, Decimal(10))
    assert row(talent, "SATISFACTION_RATE") == ("EMPTY", None, None, Decimal(0))

    # External indicators were not recorded: 0 each ("依据评价结果赋分"). Totals:
    # A 5 + 5 + 10 + 10 + 10 = 40; B 4.9 + 10 + 15 + 10 + 6.67 = 46.57; C 10 + 10 = 20.
    assert (Decimal(hr["total"]), hr["rank"]) == (Decimal("46.57"), 1)
    assert (Decimal(market["total"]), market["rank"]) == (Decimal(40), 2)
    assert (Decimal(talent["total"]), talent["rank"]) == (Decimal(20), 3)
    idle = [e for k, e in entries.items() if k not in ("MARKET_REGULATION", "HUMAN_RESOURCES")]
    assert len(idle) == 14 and {(e["total"], e["rank"]) for e in idle} == {("20.00", 3)}

    # The 12345 scheme counts the last rating of each work order, over the rated ones
    # (满意数/评价数): B has Q's final 满意 only → 100 %.
    hotline = await _scores(api, "HOTLINE_12345")
    satisfaction = _indicator(hotline["HUMAN_RESOURCES"], "SATISFACTION_RATE")
    assert (satisfaction["numerator"], satisfaction["denominator"]) == ("1", "1")
