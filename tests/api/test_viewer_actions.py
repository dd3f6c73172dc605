"""``Issue.viewerActions`` is state-aware: every action it lists for a viewer succeeds
(with well-formed input), every action it leaves out fails and writes nothing.

Issues are brought to a range of stages (submitted, accepted, assigned to a board, in
progress, resolved, escalated to the county, delegated back to the town, at the county's
joint meeting, just urged); for each stage and each viewer who sees the issue, each listed
action runs on a fresh issue at that stage and each unlisted one runs on the stage's issue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from closedloop.services.issues.actions import IssueAction
from tests.api.issue_helpers import ISSUE_FIELDS, mutation, step, submit, unit_id
from tests.conftest import T0, Api

TOWN = "330521102"  # 新市镇 (the enterprise's town)
COUNTY = "330521"  # 德清县
VIEWERS = (
    "ent.xinshi-silk",
    "xinshi.center",
    "xinshi.leader",
    "xinshi.talent",
    "deqing.center",
    "deqing.leader",
    "deqing.talent",
    "huzhou.center",
)
ALL_ACTIONS = [a.value for a in IssueAction]

Issue = dict[str, Any]


async def accepted(api: Api) -> Issue:
    return await step(api, "acceptIssue", await submit(api), "xinshi.center")


async def assigned(api: Api) -> Issue:
    board = await unit_id(api, TOWN, "boards", "TALENT")
    return await step(api, "assignIssue", await accepted(api), "xinshi.center", boardId=board)


async def in_progress(api: Api) -> Issue:
    return await step(api, "startIssue", await assigned(api), "xinshi.talent")


async def resolved(api: Api) -> Issue:
    return await step(api, "resolveIssue", await in_progress(api), "xinshi.talent", reply="已办")


async def escalated(api: Api) -> Issue:
    return await step(api, "escalateIssue", await accepted(api), "xinshi.center", reason="需县级")


async def delegated(api: Api) -> Issue:
    issue = await escalated(api)
    due = (T0 + dt.timedelta(days=1)).isoformat()
    return await step(
        api, "delegateIssue", issue, "deqing.center", toRegion=TOWN, dueAt=due, reason="请镇办理"
    )


async def at_meeting(api: Api) -> Issue:
    issue = await escalated(api)
    return await step(
        api, "coordinateIssue", issue, "deqing.leader", level="LEADER_MEETING", reason="联席"
    )


async def urged(api: Api) -> Issue:
    return await step(api, "urgeIssue", await submit(api), "ent.xinshi-silk")


async def submitted(api: Api) -> Issue:
    return await submit(api)


STAGES: dict[str, Callable[[Api], Awaitable[Issue]]] = {
    "submitted": submitted,
    "accepted": accepted,
    "assigned": assigned,
    "in_progress": in_progress,
    "resolved": resolved,
    "escalated": escalated,
    "delegated": delegated,
    "at_meeting": at_meeting,
    "urged": urged,
}

MUTATIONS = {
    "ACCEPT": "acceptIssue",
    "REJECT": "rejectIssue",
    "TRIAGE": "triageIssue",
    "ASSIGN": "assignIssue",
    "START": "startIssue",
    "NOTE": "addIssueNote",
    "HAND_BACK": "handBackIssue",
    "RESOLVE": "resolveIssue",
    "RATE": "rateIssue",
    "URGE": "urgeIssue",
    "REOPEN": "reopenIssue",
    "ESCALATE": "escalateIssue",
    "DELEGATE": "delegateIssue",
    "RETURN": "returnIssue",
    "COORDINATE": "coordinateIssue",
    "MEETING_DECISION": "recordMeetingDecision",
}

STATE = f"""query($id: ID!) {{ issue(id: $id) {{ {ISSUE_FIELDS} handlingLevel
  holdingRegion {{ code }} viewerActions }} }}"""


async def seen_by(api: Api, issue: Issue, viewer: str) -> Issue | None:
    data = await api.gql(STATE, {"id": issue["id"]}, as_=viewer)
    found: Issue | None = data["issue"]
    return found


async def well_formed_input(api: Api, action: str, issue: Issue) -> dict[str, Any]:
    """Input an action accepts when the issue and the viewer allow it."""
    holder = issue["holdingRegion"]["code"]
    if action in ("REJECT", "HAND_BACK", "REOPEN", "ESCALATE", "RETURN"):
        return {"reason": "理由"}
    if action == "TRIAGE":
        return {"category": "CONSULTATION", "tags": []}
    if action == "ASSIGN":
        return {"boardId": await unit_id(api, holder, "boards", "TALENT")}
    if action == "NOTE":
        return {"text": "记录"}
    if action == "RESOLVE":
        return {"reply": "答复"}
    if action == "RATE":
        return {"grade": "SATISFIED"}
    if action == "DELEGATE":
        below = {"3305": COUNTY, COUNTY: TOWN}.get(holder, TOWN)
        due = dt.datetime.fromisoformat(issue["dueAt"]) if issue["dueAt"] else None
        deadline = min(due, T0 + dt.timedelta(days=1)) if due else T0 + dt.timedelta(days=1)
        return {"toRegion": below, "dueAt": (deadline - dt.timedelta(minutes=1)).isoformat()}
    if action == "COORDINATE":
        level = "CENTER" if issue["handlingLevel"] == "BOARD" else "LEADER_MEETING"
        return {"level": level, "reason": "协调"}
    if action == "MEETING_DECISION":
        return {"meetingDate": "2026-03-02", "chair": "县长", "decision": "由县人社局牵头"}
    return {}


async def attempt(api: Api, action: str, issue: Issue, viewer: str, duplicate: Issue) -> list[Any]:
    """Run one action (a merge takes ``duplicate`` in); the errors it returned."""
    if action == "MERGE":
        query = """mutation($input: MergeIssuesInput!) { mergeIssues(input: $input) {
          issue { id } errors { code message field } } }"""
        body = {
            "primaryId": issue["id"],
            "primaryVersion": issue["version"],
            "duplicates": [{"id": duplicate["id"], "expectedVersion": duplicate["version"]}],
        }
        data = await api.gql(query, {"input": body}, as_=viewer)
        errors: list[Any] = data["mergeIssues"]["errors"]
        return errors
    name = MUTATIONS[action]
    input_type = name[0].upper() + name[1:] + "Input"
    body = {"id": issue["id"], "expectedVersion": issue["version"]}
    body.update(await well_formed_input(api, action, issue))
    data = await api.gql(mutation(name, input_type), {"input": body}, as_=viewer)
    errors = data[name]["errors"]
    return errors


async def test_listed_actions_succeed_and_unlisted_ones_fail(api: Api) -> None:
    listed_total = 0
    unlisted_total = 0
    for stage, build in STAGES.items():
        issue = await build(api)
        spare = await build(api)  # what unlisted merges try to take in
        for viewer in VIEWERS:
            seen = await seen_by(api, issue, viewer)
            if seen is None:
                continue
            listed = seen["viewerActions"]
            assert set(listed) <= set(ALL_ACTIONS)
            for action in listed:
                fresh = await seen_by(api, await build(api), viewer)
                assert fresh is not None and action in fresh["viewerActions"]
                duplicate = await build(api) if action == "MERGE" else spare
                errors = await attempt(api, action, fresh, viewer, duplicate)
                assert errors == [], (stage, viewer, action, errors)
                listed_total += 1
            for action in ALL_ACTIONS:
                if action in listed:
                    continue
                errors = await attempt(api, action, seen, viewer, spare)
                assert errors, (stage, viewer, action, "succeeded though not listed")
                unlisted_total += 1
            # Nothing was written by the refused ones.
            after = await seen_by(api, issue, viewer)
            assert after is not None and after["version"] == seen["version"]
    # The walk covered real choices, not an empty list everywhere.
    assert listed_total >= 40 and unlisted_total >= 300, (listed_total, unlisted_total)


async def test_actions_follow_the_state(api: Api) -> None:
    issue = await submit(api)
    first = await seen_by(api, issue, "xinshi.center")
    assert first is not None
    assert "ACCEPT" in first["viewerActions"] and "START" not in first["viewerActions"]
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    after = await seen_by(api, issue, "xinshi.center")
    assert after is not None
    assert "ACCEPT" not in after["viewerActions"] and "ASSIGN" in after["viewerActions"]
    # The enterprise urges once; the second urge is not offered until the interval passes.
    ent = await seen_by(api, issue, "ent.xinshi-silk")
    assert ent is not None and ent["viewerActions"] == ["URGE"]
    issue = await step(api, "urgeIssue", issue, "ent.xinshi-silk")
    ent = await seen_by(api, issue, "ent.xinshi-silk")
    assert ent is not None and ent["viewerActions"] == []
    assert ent["nextUrgeAllowedAt"] is not None


async def test_action_labels_in_both_languages(api: Api) -> None:
    query = '{ labels(enums: ["IssueAction"]) { values { value zh en } } }'
    data = await api.gql(query, as_="xinshi.center")
    values = data["labels"][0]["values"]
    assert {v["value"] for v in values} == set(ALL_ACTIONS)
    assert all(v["zh"] and v["en"] and v["zh"] != v["en"] for v in values)
