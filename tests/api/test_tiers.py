"""Escalation up the tiers, delegation down, the in-tier ladder, the custody ledger and the
seven problem lists — through GraphQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from closedloop.domain.clock import FrozenClock
from tests.api.issue_helpers import run, step, submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

CUSTODY = """query($id: ID!) { issue(id: $id) { state holdingRegion { code } handlingLevel
  escalationCount delegationReturnCount delegatedFrom { code }
  custody { region { code } handlingLevel startedAt endedAt heldSeconds overdueSeconds }
  timeline { type public message } } }"""


async def _accepted_in_town(api: Api) -> dict[str, Any]:
    issue = await submit(
        api, title="厂区周边道路长期施工", content="道路施工一年未完工，货车无法进出"
    )
    return await step(api, "acceptIssue", issue, "xinshi.center")


async def test_town_to_province_and_back_down_with_the_custody_ledger(
    api: Api, clock: FrozenClock
) -> None:
    issue = await _accepted_in_town(api)
    clock.advance(dt.timedelta(days=1))
    issue = await step(api, "escalateIssue", issue, "xinshi.center", reason="镇级无法协调交通部门")
    assert issue["holdingRegion"]["code"] == "330521" and issue["handlingLevel"] == "PARENT_TIER"
    assert issue["state"] == "ACCEPTED"
    # The county works it up its own ladder before going further.
    issue = await step(
        api,
        "coordinateIssue",
        issue,
        "deqing.center",
        level="LEADER_MEETING",
        reason="跨部门，提交联席会议",
    )
    issue = await step(
        api,
        "recordMeetingDecision",
        issue,
        "deqing.leader",
        meetingDate="2026-03-05",
        chair="县委副书记",
        decision="报市级协调",
    )
    clock.advance(dt.timedelta(days=3))  # past the county's 2-day assignment limit
    issue = await step(
        api, "escalateIssue", issue, "deqing.leader", reason="涉及市级道路规划", toRegion="3305"
    )
    assert issue["holdingRegion"]["code"] == "3305"
    clock.advance(dt.timedelta(days=1))
    issue = await step(api, "escalateIssue", issue, "huzhou.center", reason="需省交通厅协调")
    assert issue["holdingRegion"]["code"] == "33"
    issue = await step(api, "escalateIssue", issue, "province.center", reason="提交省级专班")
    assert issue["handlingLevel"] == "PROVINCE_TASKFORCE" and issue["holdingRegion"]["code"] == "33"

    # Back down: the province delegates to the city with a deadline inside its own.
    due = (clock.now() + dt.timedelta(hours=30)).isoformat()
    issue = await step(
        api,
        "delegateIssue",
        issue,
        "province.center",
        toRegion="3305",
        dueAt=due,
        reason="请湖州市牵头落实",
    )
    assert issue["holdingRegion"]["code"] == "3305"
    clock.advance(dt.timedelta(days=1))
    issue = await step(api, "returnIssue", issue, "huzhou.center", reason="需省级资金支持")
    assert issue["holdingRegion"]["code"] == "33"
    issue = await step(
        api,
        "delegateIssue",
        issue,
        "province.center",
        toRegion="330521",
        dueAt=(clock.now() + dt.timedelta(hours=5)).isoformat(),
    )
    assert issue["holdingRegion"]["code"] == "330521"

    data = (await api.gql(CUSTODY, {"id": issue["id"]}, as_="province.monitor"))["issue"]
    assert data["escalationCount"] == 4 and data["delegationReturnCount"] == 1
    assert data["delegatedFrom"] == {"code": "33"}
    ledger = [(c["region"]["code"], c["handlingLevel"]) for c in data["custody"]]
    assert ledger == [
        ("330521102", "CENTER"),
        ("330521", "PARENT_TIER"),
        ("330521", "LEADER_MEETING"),
        ("3305", "PARENT_TIER"),
        ("33", "PARENT_TIER"),
        ("33", "PROVINCE_TASKFORCE"),
        ("3305", "CENTER"),
        ("33", "CENTER"),
        ("330521", "CENTER"),
    ]
    held = {}
    for entry in data["custody"]:
        held[entry["region"]["code"]] = held.get(entry["region"]["code"], 0) + entry["heldSeconds"]
    assert held["330521102"] == 86_400
    assert held["330521"] == 3 * 86_400
    assert (
        all(c["endedAt"] for c in data["custody"][:-1]) and data["custody"][-1]["endedAt"] is None
    )
    # The county let its 2-day limit pass by one day: that day is the county's.
    overdue = {
        (c["region"]["code"], c["handlingLevel"]): c["overdueSeconds"] for c in data["custody"]
    }
    assert overdue[("330521", "LEADER_MEETING")] == 86_400
    assert overdue[("330521102", "CENTER")] == 0
    types = [e["type"] for e in data["timeline"]]
    assert types.count("ESCALATED") == 4 and "DELEGATED" in types and "MEETING_DECIDED" in types


async def test_bad_moves_are_typed_errors_that_change_nothing(api: Api) -> None:
    issue = await _accepted_in_town(api)
    base = {"id": issue["id"], "expectedVersion": issue["version"]}
    cases = [
        (
            "escalateIssue",
            {**base, "reason": "x", "toRegion": "3305"},
            "xinshi.center",
            "ESCALATION_TARGET_INVALID",
        ),
        (
            "escalateIssue",
            {**base, "reason": "x", "toRegion": "330522"},
            "xinshi.center",
            "ESCALATION_TARGET_INVALID",
        ),
        ("escalateIssue", {**base, "reason": " "}, "xinshi.center", "REQUIRED"),
        (
            "escalateIssue",
            {**base, "reason": "x", "expectedVersion": 1},
            "xinshi.center",
            "VERSION_CONFLICT",
        ),
        # The county does not hold it: it sees it (origin in its subtree) but may not act.
        ("escalateIssue", {**base, "reason": "x"}, "deqing.center", "PERMISSION_DENIED"),
        # A sibling county does not even see it.
        ("escalateIssue", {**base, "reason": "x"}, "changxing.center", "NOT_FOUND"),
        (
            "delegateIssue",
            {**base, "toRegion": "330521101", "dueAt": "2026-03-03T00:00:00Z"},
            "xinshi.center",
            "DELEGATION_TARGET_INVALID",
        ),
        (
            "delegateIssue",
            {**base, "toRegion": "330521102", "dueAt": "2026-03-03T00:00:00Z"},
            "xinshi.center",
            "DELEGATION_TARGET_INVALID",
        ),
        ("returnIssue", {**base, "reason": "x"}, "xinshi.center", "NOT_DELEGATED"),
        (
            "coordinateIssue",
            {**base, "level": "BOARD", "reason": "x"},
            "xinshi.center",
            "LEVEL_INVALID",
        ),
        (
            "recordMeetingDecision",
            {**base, "meetingDate": "2026-03-05", "chair": "a", "decision": "b"},
            "xinshi.leader",
            "LEVEL_INVALID",
        ),
    ]
    for name, input_, who, code in cases:
        result = await run(api, name, input_, who)
        assert [e["code"] for e in result["errors"]] == [code], (name, input_, who, result)
    after = (await api.gql(CUSTODY, {"id": issue["id"]}, as_="xinshi.center"))["issue"]
    assert after["holdingRegion"]["code"] == "330521102"
    assert [c["region"]["code"] for c in after["custody"]] == ["330521102"]


async def test_delegation_deadline_must_fit_inside_the_holders_own(
    api: Api, clock: FrozenClock
) -> None:
    issue = await _accepted_in_town(api)
    issue = await step(api, "escalateIssue", issue, "xinshi.center", reason="上报")
    own_due = dt.datetime.fromisoformat(issue["dueAt"])
    base = {"id": issue["id"], "expectedVersion": issue["version"], "toRegion": "330521102"}
    too_late = await run(
        api,
        "delegateIssue",
        {**base, "dueAt": (own_due + dt.timedelta(hours=1)).isoformat()},
        "deqing.center",
    )
    past = await run(
        api,
        "delegateIssue",
        {**base, "dueAt": (clock.now() - dt.timedelta(hours=1)).isoformat()},
        "deqing.center",
    )
    assert too_late["errors"][0]["code"] == past["errors"][0]["code"] == "DEADLINE_INVALID"
    ok = await step(
        api,
        "delegateIssue",
        issue,
        "deqing.center",
        toRegion="330521102",
        dueAt=(own_due - dt.timedelta(hours=1)).isoformat(),
    )
    assert ok["dueAt"] == (own_due - dt.timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z"
    ) or dt.datetime.fromisoformat(ok["dueAt"]) == own_due - dt.timedelta(hours=1)
    # The receiving town may not silently drop it.
    rejected = await run(
        api,
        "rejectIssue",
        {"id": ok["id"], "expectedVersion": ok["version"], "reason": "不归我管"},
        "xinshi.center",
    )
    assert rejected["errors"][0]["code"] == "MUST_RETURN_DELEGATION"
