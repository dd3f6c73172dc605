"""What a channel system reads back of what it sent (#13, "办理结果回推"), over HTTP on
PostgreSQL: every status change since it last asked, by its own record ids as well as by
the issues' ids, including the records the center merged into another (the primary's
resolution reaches them), and each record's outcome in the batch's answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.settings import Settings
from tests.api.channel_helpers import ChannelApi, new_channel
from tests.api.issue_helpers import ok, step
from tests.api.test_channels import record
from tests.api.test_query_counts import counting

pytestmark = pytest.mark.usefixtures("clean_issues")

CHANGED = """query($since: DateTime) {
  issues(filter: {updatedSince: $since}, orderBy: UPDATED_AT_ASC, first: 100) {
    totalCount nodes { id channelRecordId state reply updatedAt
      timeline { type message public } } } }"""
BY_RECORD = """query($ids: [String!]) { issues(filter: {channelRecordIds: $ids}, first: 100) {
  totalCount nodes { id channelRecordId state stateLabel reply } } }"""


@pytest.fixture
async def capi(api: Any, settings: Settings) -> ChannelApi:
    return ChannelApi(api, settings)


async def test_every_status_change_reads_back_merged_records_included(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    pushed = await capi.push(creds, [record(n) for n in range(1, 6)])
    issue = {r["recordId"]: r["issue"]["id"] for r in pushed["results"]}
    rid = [record(n)["recordId"] for n in range(1, 6)]
    center = "deqing.center"

    async def current(record_id: str) -> dict[str, Any]:
        query = "query($id: ID!) { issue(id: $id) { id version } }"
        found: dict[str, Any] = (await capi.gql(query, {"id": issue[record_id]}, as_=center))[
            "issue"
        ]
        return found

    # Record 2 reports what record 1 does: the center merges it into record 1. The system
    # reads everything up to here; later the center resolves record 1 (nothing of record
    # 2's own columns changes then), refuses record 3, accepts record 4; 5 stays untouched.
    primary, dup = await current(rid[0]), await current(rid[1])
    await ok(
        capi,
        "mergeIssues",
        {
            "primaryId": primary["id"],
            "primaryVersion": primary["version"],
            "duplicates": [{"id": dup["id"], "expectedVersion": dup["version"]}],
        },
        center,
    )
    since = clock.now() + dt.timedelta(minutes=1)
    clock.advance(dt.timedelta(hours=1))
    primary = await step(capi, "acceptIssue", await current(rid[0]), center)
    reply = "已协调交通部门修复道路。"
    await step(capi, "resolveIssue", primary, center, reply=reply)
    await step(capi, "rejectIssue", await current(rid[2]), center, reason="不属于涉企问题")
    await step(capi, "acceptIssue", await current(rid[3]), center)

    data = await capi.gql(CHANGED, {"since": since.isoformat()}, as_=creds.client_id)
    seen = {n["channelRecordId"]: n for n in data["issues"]["nodes"]}
    assert data["issues"]["totalCount"] == 4 and set(seen) == set(rid[:4])
    assert (seen[rid[0]]["state"], seen[rid[0]]["reply"]) == ("RESOLVED", reply)
    assert seen[rid[2]]["state"] == "REJECTED" and seen[rid[3]]["state"] == "ACCEPTED"
    # The merged record: its own state, and the primary's resolution on its timeline (the
    # primary itself may be another system's issue, which this one cannot read).
    merged = seen[rid[1]]
    assert merged["state"] == "MERGED"
    last = merged["timeline"][-1]
    assert (last["type"], last["message"], last["public"]) == ("PRIMARY_RESOLVED", reply, True)
    # Public entries only: what the channel may tell the citizen.
    assert all(e["public"] for n in seen.values() for e in n["timeline"])
    # Asked again from the newest change it saw: nothing new.
    newest = max(n["updatedAt"] for n in seen.values())
    clock.advance(dt.timedelta(minutes=5))
    again = await capi.gql(CHANGED, {"since": newest}, as_=creds.client_id)
    assert {n["channelRecordId"] for n in again["issues"]["nodes"]} <= set(rid[:4])

    # By its own record ids: exactly those records, in the channel's scope.
    wanted = [rid[0], rid[4], "12345-unknown"]
    by_record = await capi.gql(BY_RECORD, {"ids": wanted}, as_=creds.client_id)
    nodes = {n["channelRecordId"]: n for n in by_record["issues"]["nodes"]}
    assert set(nodes) == {rid[0], rid[4]} and nodes[rid[4]]["state"] == "SUBMITTED"
    # Another system of the same channel and region does not see them by their ids.
    other = await new_channel(db, clock)
    await capi.sign_in(other)
    hidden = await capi.gql(BY_RECORD, {"ids": wanted}, as_=other.client_id)
    assert hidden["issues"] == {"totalCount": 0, "nodes": []}
    # More than 100 ids: refused before anything is read.
    response = await capi.post(
        BY_RECORD, {"ids": [f"r{n}" for n in range(101)]}, as_=creds.client_id
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_each_record_answers_in_the_batch_in_its_place(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    await capi.push(creds, [record(1)])
    batch = [record(1), record(2), record(2), record(3, title=" "), record(4)]
    result = await capi.push(creds, batch)
    answers = [
        (r["index"], r["recordId"], r["outcome"], r["issue"] is not None) for r in result["results"]
    ]
    assert answers == [
        (0, record(1)["recordId"], "ALREADY_SUBMITTED", True),
        (1, record(2)["recordId"], "CREATED", True),
        (2, record(2)["recordId"], "REJECTED", False),
        (3, record(3)["recordId"], "REJECTED", False),
        (4, record(4)["recordId"], "CREATED", True),
    ]
    assert (result["created"], result["alreadySubmitted"], result["rejected"]) == (2, 1, 2)


async def test_read_back_by_record_ids_costs_the_same_whatever_their_number(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    await capi.push(creds, [record(n) for n in range(12)])
    runtime = capi.client._transport.app.state.runtime  # type: ignore[attr-defined]

    async def statements(n: int) -> int:
        ids = [record(i)["recordId"] for i in range(n)]
        for _ in range(3):  # the account remembered (see test_query_counts)
            await capi.gql(BY_RECORD, {"ids": ids}, as_=creds.client_id)
            if creds.client_id in runtime.principals:
                break
        with counting(db) as seen:
            data = await capi.gql(BY_RECORD, {"ids": ids}, as_=creds.client_id)
        assert data["issues"]["totalCount"] == n
        return len(seen)

    small, large = await statements(2), await statements(12)
    assert small == large and large <= 4
