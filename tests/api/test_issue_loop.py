"""One issue through the whole loop over HTTP, and the loop's safety rules."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.services.issues.sweeper import sweep
from closedloop.settings import Settings
from tests.api.issue_helpers import key, ok, run, step, submit, unit_id
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

TIMELINE = """query($id: ID!) { issue(id: $id) { state timeline { type typeLabel public
  fromState toState message actorName } } }"""


async def test_enterprise_issue_walks_the_whole_loop(
    api: Api, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    issue = await submit(api, tags=["人才"])
    assert issue["state"] == "SUBMITTED"
    assert issue["number"].startswith(f"330521102-{clock.now().year}-")
    assert issue["channel"] == "ONLINE_PORTAL" and issue["proactive"] is False
    assert issue["holdingRegion"]["code"] == "330521102"
    assert issue["enterprise"]["name"] == "新市丝绸织造有限公司"

    clock.advance(dt.timedelta(hours=2))
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    assert issue["state"] == "ACCEPTED" and issue["light"] == "GREEN"
    assert issue["dueAt"] is not None

    talent = await unit_id(api, "330521102", "boards", "TALENT")
    issue = await step(
        api,
        "triageIssue",
        issue,
        "xinshi.center",
        category="APPEAL",
        tags=["人才", "招工"],
        boardId=talent,
    )
    assert (issue["state"], issue["category"], issue["board"]) == (
        "ASSIGNED",
        "APPEAL",
        {"key": "TALENT"},
    )
    assert issue["tags"] == ["人才", "招工"] and issue["handlingLevel"] == "BOARD"

    issue = await step(api, "startIssue", issue, "xinshi.talent")
    assert issue["state"] == "IN_PROGRESS"
    issue = await step(
        api, "addIssueNote", issue, "xinshi.talent", text="已对接县人力社保局", public=False
    )
    issue = await step(
        api, "addIssueNote", issue, "xinshi.talent", text="已推送3场招聘会信息", public=True
    )
    clock.advance(dt.timedelta(days=3))
    issue = await step(
        api, "resolveIssue", issue, "xinshi.talent", reply="已组织专场招聘会，企业招到挡车工26人。"
    )
    assert issue["state"] == "RESOLVED" and issue["overdue"] is False and issue["light"] is None

    issue = await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="SATISFIED")
    assert issue["state"] == "CLOSED" and issue["rating"] == "SATISFIED"

    staff_view = await api.gql(TIMELINE, {"id": issue["id"]}, as_="xinshi.center")
    ent_view = await api.gql(TIMELINE, {"id": issue["id"]}, as_="ent.xinshi-silk")
    staff_types = [e["type"] for e in staff_view["issue"]["timeline"]]
    ent_types = [e["type"] for e in ent_view["issue"]["timeline"]]
    assert staff_types == [
        "SUBMITTED",
        "ACCEPTED",
        "TRIAGED",
        "ASSIGNED",
        "STARTED",
        "NOTE",
        "NOTE",
        "RESOLVED",
        "RATED",
    ]
    assert ent_types == [
        "SUBMITTED",
        "ACCEPTED",
        "ASSIGNED",
        "STARTED",
        "NOTE",
        "RESOLVED",
        "RATED",
    ]
    assert all(e["public"] for e in ent_view["issue"]["timeline"])
    assert "已对接县人力社保局" not in str(ent_view)
    assert ent_view["issue"]["timeline"][1]["typeLabel"] == "中心受理"

    async with db.system.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(t.outbox.c.channel, t.outbox.c.topic, t.outbox.c.recipient).order_by(
                    t.outbox.c.id
                )
            )
        ).all()
    messages = [(r.channel, r.topic) for r in rows]
    assert ("SMS", "ISSUE_ACCEPTED") in messages
    assert ("OA", "ISSUE_ASSIGNED") in messages
    assert ("SMS", "ISSUE_ASSIGNED") in messages
    assert ("SMS", "ISSUE_RESOLVED") in messages
    oa = next(r for r in rows if r.topic == "ISSUE_ASSIGNED" and r.channel == "OA")
    assert oa.recipient.startswith("board:")
    del settings


async def test_a_closed_issue_was_held_until_it_closed(api: Api, clock: FrozenClock) -> None:
    """The custody ledger of a finished issue ends when it closed: its last holder's time
    does not grow with the clock afterwards."""
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    issue = await submit(api)
    clock.advance(dt.timedelta(hours=1))
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    clock.advance(dt.timedelta(hours=2))
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    clock.advance(dt.timedelta(hours=3))
    issue = await step(api, "resolveIssue", issue, "xinshi.talent", reply="已办结")
    clock.advance(dt.timedelta(hours=4))
    issue = await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="SATISFIED")
    query = """query($id: ID!) { issue(id: $id) { state closedAt
      custody { handlingLevel startedAt endedAt heldSeconds } } }"""
    answers = []
    for _ in range(2):
        answers.append((await api.gql(query, {"id": issue["id"]}, as_="xinshi.center"))["issue"])
        clock.advance(dt.timedelta(days=30))
    assert answers[0] == answers[1]
    closed = answers[0]
    assert closed["state"] == "CLOSED"
    assert [(c["handlingLevel"], c["heldSeconds"]) for c in closed["custody"]] == [
        ("CENTER", 3 * 3600),
        ("BOARD", 7 * 3600),
    ]
    assert closed["custody"][-1]["endedAt"] == closed["closedAt"]


async def test_lights_move_green_yellow_red_and_late_resolution_is_overdue(
    api: Api, clock: FrozenClock, db: Database, settings: Settings
) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    read = "query($id: ID!) { issue(id: $id) { light dueAt } }"
    assert (await api.gql(read, {"id": issue["id"]}, as_="xinshi.center"))["issue"][
        "light"
    ] == "GREEN"
    # Reply within 15 days: yellow from day 10, red from day 15.
    clock.advance(dt.timedelta(days=9, hours=23))
    assert (await api.gql(read, {"id": issue["id"]}, as_="xinshi.center"))["issue"][
        "light"
    ] == "GREEN"
    clock.advance(dt.timedelta(hours=2))
    assert (await api.gql(read, {"id": issue["id"]}, as_="xinshi.center"))["issue"][
        "light"
    ] == "YELLOW"
    report = await sweep(db, clock, settings)
    assert report.lights == 1
    yellow = await api.gql(
        "{ issues(filter: {light: YELLOW}) { totalCount } }", as_="xinshi.center"
    )
    assert yellow["issues"]["totalCount"] == 1
    clock.advance(dt.timedelta(days=5))
    assert (await api.gql(read, {"id": issue["id"]}, as_="xinshi.center"))["issue"][
        "light"
    ] == "RED"
    assert (await sweep(db, clock, settings)).lights == 1
    assert (await sweep(db, clock, settings)).lights == 0  # notified once per colour
    red = await api.gql("{ issues(filter: {light: RED}) { totalCount } }", as_="xinshi.center")
    assert red["issues"]["totalCount"] == 1
    issue = await step(api, "resolveIssue", issue, "xinshi.talent", reply="已办结")
    assert issue["overdue"] is True
    async with db.system.connect() as conn:
        topics = (await conn.execute(sa.select(t.outbox.c.topic))).scalars().all()
    assert "ISSUE_LIGHT_YELLOW" in topics and "ISSUE_LIGHT_RED" in topics


async def test_working_day_limits_skip_the_national_holiday(
    api: Api, clock: FrozenClock, db: Database
) -> None:
    async with db.system.begin() as conn:
        await conn.execute(
            t.time_limit_rule.insert().values(
                region_code="330521102",
                category=None,
                assign_days=2,
                reply_days=15,
                working_days=True,
            )
        )
    try:
        clock.set(dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC))  # 10:00 Beijing, before 国庆
        issue = await submit(api)
        issue = await step(api, "acceptIssue", issue, "xinshi.center")
        due = dt.datetime.fromisoformat(issue["dueAt"])
        # 2 working days after 30 Sep skip the 1-8 Oct holiday (and count the make-up days).
        assert due.astimezone(dt.timezone(dt.timedelta(hours=8))).date() > dt.date(2026, 10, 8)
    finally:
        async with db.system.begin() as conn:
            await conn.execute(
                t.time_limit_rule.delete().where(t.time_limit_rule.c.region_code == "330521102")
            )


async def test_second_urge_within_24_hours_is_refused(api: Api, clock: FrozenClock) -> None:
    issue = await submit(api)
    issue = await step(api, "urgeIssue", issue, "ent.xinshi-silk")
    assert issue["urgeCount"] == 1
    clock.advance(dt.timedelta(hours=23))
    again = await run(
        api,
        "urgeIssue",
        {"id": issue["id"], "expectedVersion": issue["version"]},
        "ent.xinshi-silk",
    )
    assert again["errors"][0]["code"] == "URGE_TOO_SOON"
    assert issue["nextUrgeAllowedAt"][:13] in again["errors"][0]["message"]
    clock.advance(dt.timedelta(hours=1))
    issue = await step(api, "urgeIssue", issue, "ent.xinshi-silk")
    assert issue["urgeCount"] == 2


async def test_concurrent_assignments_with_the_same_version_apply_once(api: Api) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    legal = await unit_id(api, "330521102", "boards", "LEGAL")
    results = await asyncio.gather(
        *(
            run(
                api,
                "assignIssue",
                {"id": issue["id"], "expectedVersion": issue["version"], "boardId": board},
                "xinshi.center",
            )
            for board in (talent, legal)
        )
    )
    applied = [r for r in results if not r["errors"]]
    refused = [r for r in results if r["errors"]]
    assert len(applied) == 1 and len(refused) == 1
    assert refused[0]["errors"][0]["code"] in ("VERSION_CONFLICT", "INVALID_TRANSITION")
    final = await api.gql(
        "query($id: ID!) { issue(id: $id) { version board { key } timeline { type } } }",
        {"id": issue["id"]},
        as_="xinshi.center",
    )
    assert final["issue"]["version"] == issue["version"] + 1
    assert [e["type"] for e in final["issue"]["timeline"]].count("ASSIGNED") == 1


async def test_replayed_mutation_changes_nothing(api: Api) -> None:
    idem = key()
    first = await run(
        api,
        "submitIssue",
        {"title": "用电扩容", "content": "申请增容800千伏安", "idempotencyKey": idem},
        "ent.xinshi-silk",
    )
    second = await run(
        api,
        "submitIssue",
        {"title": "用电扩容", "content": "申请增容800千伏安", "idempotencyKey": idem},
        "ent.xinshi-silk",
    )
    assert second["replayed"] is True and second["issue"]["id"] == first["issue"]["id"]
    count = await api.gql("{ issues { totalCount } }", as_="ent.xinshi-silk")
    assert count["issues"]["totalCount"] == 1
    different = await run(
        api,
        "submitIssue",
        {"title": "别的", "content": "不同内容", "idempotencyKey": idem},
        "ent.xinshi-silk",
    )
    assert different["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"

    issue = first["issue"]
    accept_key = key()
    accepted = await ok(
        api,
        "acceptIssue",
        {"id": issue["id"], "expectedVersion": issue["version"], "idempotencyKey": accept_key},
        "xinshi.center",
    )
    again = await run(
        api,
        "acceptIssue",
        {"id": issue["id"], "expectedVersion": issue["version"], "idempotencyKey": accept_key},
        "xinshi.center",
    )
    assert again["errors"] == [] and again["replayed"] is True
    assert again["issue"]["version"] == accepted["version"]


async def test_unsatisfied_rating_reopens_and_unrated_issue_closes_as_good(
    api: Api, clock: FrozenClock, db: Database, settings: Settings
) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    first = await submit(api)
    second = await submit(api, title="人才公寓申请", content="两名硕士申请人才公寓无回复")
    for issue in (first, second):
        issue = await step(api, "acceptIssue", issue, "xinshi.center")
        issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
        await step(api, "resolveIssue", issue, "xinshi.talent", reply="已答复")
    read = "query($id: ID!) { issue(id: $id) { id state version rating reopenCount } }"
    one = (await api.gql(read, {"id": first["id"]}, as_="ent.xinshi-silk"))["issue"]
    reopened = await step(
        api, "rateIssue", one, "ent.xinshi-silk", grade="UNSATISFIED", comment="没有解决"
    )
    assert reopened["state"] == "REOPENED" and reopened["reopenCount"] == 1
    clock.advance(dt.timedelta(days=settings.rating_window_days, minutes=1))
    report = await sweep(db, clock, settings)
    assert report.closed == 1
    two = (await api.gql(read, {"id": second["id"]}, as_="ent.xinshi-silk"))["issue"]
    assert two["state"] == "CLOSED" and two["rating"] is None


async def test_guided_categories_are_routed_out(api: Api) -> None:
    issue = await submit(api, title="投诉窗口态度", content="办事窗口工作人员态度恶劣")
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(api, "triageIssue", issue, "xinshi.center", category="COMPLAINT")
    assert issue["state"] == "ROUTED_OUT"
    assert issue["route"] == "营商环境投诉处理渠道"


async def test_staff_take_in_issues_on_behalf_of_an_enterprise(api: Api) -> None:
    from tests.conftest import DEMO_CREDIT

    missing_channel = await run(
        api,
        "submitIssue",
        {"title": "a", "content": "b", "creditCode": DEMO_CREDIT},
        "deqing.center",
    )
    assert missing_channel["errors"][0] == {
        "code": "REQUIRED",
        "field": "channel",
        "message": "必填项",
    }
    issue = await ok(
        api,
        "submitIssue",
        {
            "title": "排污许可证延续",
            "content": "排污许可证即将到期",
            "channel": "INSPECTION",
            "creditCode": DEMO_CREDIT,
        },
        "deqing.center",
    )
    assert issue["proactive"] is True and issue["holdingRegion"]["code"] == "330521"
    bad_code = await run(
        api,
        "submitIssue",
        {
            "title": "a",
            "content": "b",
            "channel": "HOTLINE_12345",
            "creditCode": "91330521MA2B3K4X5Y",
        },
        "deqing.center",
    )
    assert bad_code["errors"][0]["code"] == "INVALID_CREDIT_CODE"
    # An enterprise of a sibling county answers like an unknown one.
    foreign = await run(
        api,
        "submitIssue",
        {"title": "a", "content": "b", "channel": "HOTLINE_12345", "creditCode": DEMO_CREDIT},
        "changxing.center",
    )
    assert foreign["errors"][0]["code"] == "ENTERPRISE_NOT_FOUND"
    created = await ok(
        api,
        "submitIssue",
        {
            "title": "新企业诉求",
            "content": "内容",
            "channel": "CENTER_WINDOW",
            "creditCode": "91330522MA2E5R7T1" + _check("91330522MA2E5R7T1"),
            "enterpriseName": "长兴新材料有限公司",
            "enterpriseRegion": "330522002",
        },
        "changxing.center",
    )
    assert created["originRegion"]["code"] == "330522002"


def _check(base: str) -> str:
    from stdnum.cn import uscc

    return str(uscc.calc_check_digit(base))


async def test_bad_input_is_typed_and_changes_nothing(api: Api) -> None:
    issue = await submit(api)
    for field, body in (
        ("title", {"title": " ", "content": "x"}),
        ("content", {"title": "x", "content": ""}),
    ):
        result = await run(api, "submitIssue", body, "ent.xinshi-silk")
        assert result["errors"][0]["code"] == "REQUIRED" and result["errors"][0]["field"] == field
    reject = await run(
        api,
        "rejectIssue",
        {"id": issue["id"], "expectedVersion": issue["version"], "reason": ""},
        "xinshi.center",
    )
    assert reject["errors"][0]["code"] == "REQUIRED"
    stale = await run(
        api, "acceptIssue", {"id": issue["id"], "expectedVersion": 99}, "xinshi.center"
    )
    assert stale["errors"][0]["code"] == "VERSION_CONFLICT"
    illegal = await run(
        api, "startIssue", {"id": issue["id"], "expectedVersion": issue["version"]}, "xinshi.center"
    )
    assert illegal["errors"][0]["code"] in ("PERMISSION_DENIED", "INVALID_TRANSITION")
    sibling = await run(
        api,
        "acceptIssue",
        {"id": issue["id"], "expectedVersion": issue["version"]},
        "changxing.center",
    )
    missing = await run(
        api, "acceptIssue", {"id": "SXNzdWU6OTk5OTk", "expectedVersion": 1}, "changxing.center"
    )
    assert sibling["errors"] == missing["errors"]
    assert sibling["errors"][0]["code"] == "NOT_FOUND"
    english = await api.gql(
        "mutation($i: AcceptIssueInput!) { acceptIssue(input: $i) { errors { message } } }",
        {"i": {"id": issue["id"], "expectedVersion": 99}},
        as_="xinshi.center",
        headers={"Accept-Language": "en"},
    )
    assert english["acceptIssue"]["errors"][0]["message"].startswith("The issue changed")
    after = await api.gql(
        "query($id: ID!) { issue(id: $id) { state version timeline { type } } }",
        {"id": issue["id"]},
        as_="xinshi.center",
    )
    assert after["issue"] == {
        "state": "SUBMITTED",
        "version": 1,
        "timeline": [{"type": "SUBMITTED"}],
    }


async def test_anonymous_mutations_are_refused(api: Api) -> None:
    body = (
        await api.post(
            'mutation { submitIssue(input: {title: "a", content: "b"}) { errors { code } } }'
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_hand_back_returns_the_issue_to_the_center(api: Api) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    issue = await step(api, "handBackIssue", issue, "xinshi.talent", reason="不属于人才板块职责")
    assert issue is None or issue["state"] == "ACCEPTED"
    back = await api.gql(
        "{ issues(filter: {pool: true}) { nodes { state board { key } handlingLevel } } }",
        as_="xinshi.center",
    )
    assert back["issues"]["nodes"] == [
        {"state": "ACCEPTED", "board": None, "handlingLevel": "CENTER"}
    ]
