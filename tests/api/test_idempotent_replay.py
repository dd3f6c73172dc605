"""Idempotency keeps the first result: a replay with the same key returns exactly what the
first request returned — after later changes, not the object's current state — for the
issue mutations (one unit of work for all of them), the case and the evaluation records."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.evaluation_helpers import (
    clean_evaluation,  # noqa: F401  (fixture)
    list_entry,
    record,
)
from tests.api.issue_helpers import run, step, submit, unit_id
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

CASE = """mutation($input: ShareCaseInput!) { shareCase(input: $input) {
  case { id title problem solution tags sharedAt } errors { code } } }"""


def _same_but_replayed(first: dict[str, Any], again: dict[str, Any]) -> None:
    assert again.pop("replayed", True) is True
    first.pop("replayed", None)
    assert again == first


async def test_issue_mutations_replay_their_first_answer_after_later_changes(api: Api) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    steps: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []

    async def keyed(name: str, input_: dict[str, Any], as_: str) -> dict[str, Any]:
        input_ = {**input_, "idempotencyKey": uuid.uuid4().hex}
        result = await run(api, name, input_, as_)
        assert result["errors"] == [], result["errors"]
        steps.append((name, input_, as_, result))
        issue: dict[str, Any] = result["issue"]
        return issue

    issue = await keyed(
        "submitIssue", {"title": "用电扩容", "content": "申请增容800千伏安"}, "ent.xinshi-silk"
    )
    at = {"id": issue["id"]}
    issue = await keyed("acceptIssue", {**at, "expectedVersion": issue["version"]}, "xinshi.center")
    issue = await keyed(
        "addIssueNote",
        {**at, "expectedVersion": issue["version"], "text": "已联系供电公司", "public": True},
        "xinshi.center",
    )
    issue = await keyed(
        "assignIssue",
        {**at, "expectedVersion": issue["version"], "boardId": talent},
        "xinshi.center",
    )
    issue = await keyed(
        "resolveIssue",
        {**at, "expectedVersion": issue["version"], "reply": "已答复"},
        "xinshi.talent",
    )
    await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="SATISFIED")  # a later change
    for name, input_, as_, first in steps:
        again = await run(api, name, input_, as_)
        _same_but_replayed(first, again)
    # The issue itself moved on: a replay is not a read of the current state.
    assert steps[0][3]["issue"]["state"] == "SUBMITTED"


async def test_share_case_replays_the_case_as_first_shared(api: Api) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(api, "resolveIssue", issue, "xinshi.center", reply="已协调招聘会")
    issue = await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="SATISFIED")
    shared = {
        "issueId": issue["id"],
        "expectedVersion": issue["version"],
        "title": "招工难的解法",
        "idempotencyKey": uuid.uuid4().hex,
    }
    first = (await api.gql(CASE, {"input": shared}, as_="xinshi.center"))["shareCase"]
    assert first["errors"] == [] and first["case"]["title"] == "招工难的解法"
    again = (await api.gql(CASE, {"input": shared}, as_="xinshi.center"))["shareCase"]
    assert again == first


async def test_evaluation_records_replay_their_first_answer(api: Api) -> None:
    entry = {
        "indicator": "ENTERPRISE_REVIEW",
        "targetKind": "REGION",
        "regionCode": "330521",
        "period": "2026-Q1",
        "value": {"points": "8"},
        "idempotencyKey": "first",
    }
    first = await record(api, "huzhou.evaluator", **entry)
    assert first["errors"] == [] and first["record"]["current"] is True
    # A later record supersedes the first one...
    later = await record(
        api, "huzhou.evaluator", **{**entry, "value": {"points": "9"}, "idempotencyKey": "later"}
    )
    assert later["errors"] == []
    # ... and the replay still answers with the record as the first request saw it.
    assert await record(api, "huzhou.evaluator", **entry) == first
    listed = {
        "kind": "RED",
        "targetKind": "REGION",
        "regionCode": "330521",
        "reason": "一地突破，全市推广",
        "listedOn": "2026-02-02",
        "idempotencyKey": "entry",
    }
    added = await list_entry(api, "huzhou.evaluator", **listed)
    assert added["errors"] == []
    assert await list_entry(api, "huzhou.evaluator", **listed) == added
