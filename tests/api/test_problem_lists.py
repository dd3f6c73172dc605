"""Pushing to the seven problem lists (七张问题清单) end to end: the GraphQL mutation, the
outbox relay posting to a real HTTP receiver on loopback that checks the signature and
answers with its receipt, and the application's signed callback updating the issue."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.migrate import alembic_config, upgrade
from closedloop.domain.clock import FrozenClock
from closedloop.services.outbox_relay import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboxRelay,
    sign,
    verify_signature,
)
from closedloop.settings import Settings
from tests.api.issue_helpers import key, ok, step, submit, unit_id
from tests.api.test_query_counts import counting
from tests.conftest import DEMO_CREDIT, Api
from tests.scope import ScopeCase, ScopeVisibilityMixin

pytestmark = pytest.mark.usefixtures("clean_issues")

SECRET = "problem-list-test-secret-0123456789"
CALLBACK = "/callbacks/problem-lists"


class ListsApp:
    """A stand-in for a tier's 七张问题清单 application: an HTTP server on 127.0.0.1 (a
    random port, in a thread) that takes pushes only when they are signed with the shared
    secret, and answers each with its own reference (its receipt)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # the signed pushes it accepted
        self.refused = 0  # requests whose signature did not verify
        self.statuses: list[int] = []  # answered in turn before the normal answer
        self.receipt = True
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/qzqd/push"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify_signature(
                    SECRET,
                    self.headers[TIMESTAMP_HEADER] or "",
                    raw,
                    self.headers[SIGNATURE_HEADER] or "",
                )
                with app.lock:
                    if not signed:
                        app.refused += 1
                        status, answer = 401, {"error": "bad signature"}
                    elif app.statuses:
                        status, answer = app.statuses.pop(0), {"error": "busy"}
                    else:
                        body = json.loads(raw)
                        body["delivery"] = self.headers[DELIVERY_HEADER]
                        app.received.append(body)
                        status = 200
                        number = len(app.received)
                        answer = {"reference": f"QZQD-2026-{number:04d}"} if app.receipt else {}
                encoded = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def lists_app() -> Iterator[ListsApp]:
    app = ListsApp()
    yield app
    app.stop()


@pytest.fixture
def settings(lists_app: ListsApp) -> Settings:
    """The suite's settings, with 德清 (county) and 湖州 (city) connected to their
    application; the towns are not."""
    with lists_app.lock:
        lists_app.received.clear()
        lists_app.statuses.clear()
        lists_app.refused = 0
        lists_app.receipt = True
    return Settings(
        environment="test",
        database_url=None,
        jwt_secret="t" * 40,
        demo=False,
        rate_limit_points=0,
        problem_list_endpoints={"330521": lists_app.url, "3305": lists_app.url},
        problem_list_secret=SECRET,
        outbox_max_attempts=2,
    )


@pytest.fixture
def relay(db: Database, clock: FrozenClock, settings: Settings) -> OutboxRelay:
    return OutboxRelay(db, clock, settings)


PUSH = """mutation($input: PushToProblemListsInput!) { pushToProblemLists(input: $input) {
  push { id regionCode reason state stateLabel reference pushedByName issue { id } }
  issue { id version state } errors { code message field } replayed } }"""
ISSUE_PUSHES = """query($id: ID!) { issue(id: $id) { state version
  problemListPushes { id regionCode state stateLabel reference reportMessage reportedAt
    deliveredAt lastError region { name } }
  timeline(first: 100) { type message } } }"""


async def push(api: Api, issue: dict[str, Any], as_: str, **extra: Any) -> dict[str, Any]:
    input_ = {
        "issueId": issue["id"],
        "expectedVersion": issue["version"],
        "reason": "涉及多个部门、需县委县政府重点关注的重大涉企问题",
        **extra,
    }
    data = await api.gql(PUSH, {"input": input_}, as_=as_)
    result: dict[str, Any] = data["pushToProblemLists"]
    return result


async def held_by_deqing(api: Api, title: str = "用地指标不足影响扩产") -> dict[str, Any]:
    """An issue taken in and accepted by 德清's center (the tier 330521 holds it)."""
    taken = {"title": title, "content": "扩产项目缺少用地指标", "channel": "HOTLINE_12345"}
    issue = await ok(api, "submitIssue", {**taken, "creditCode": DEMO_CREDIT}, "deqing.center")
    return await step(api, "acceptIssue", issue, "deqing.center")


def signed(body: dict[str, Any], when: dt.datetime, secret: str = SECRET) -> dict[str, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = str(int(when.timestamp()))
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, raw),
        },
    }


async def callback(api: Api, request: dict[str, Any]) -> httpx.Response:
    return await api.client.post(CALLBACK, **request)


async def pushes_and_outbox(db: Database) -> tuple[list[sa.RowMapping], list[sa.RowMapping]]:
    async with db.system.connect() as conn:
        pushes = (
            await conn.execute(sa.select(t.problem_list_push).order_by(t.problem_list_push.c.id))
        ).mappings()
        outbox = (
            await conn.execute(
                sa.select(t.outbox)
                .where(t.outbox.c.topic.startswith("PROBLEM_LIST"))
                .order_by(t.outbox.c.id)
            )
        ).mappings()
        return list(pushes), list(outbox)


async def test_a_push_reaches_the_application_signed_and_its_callbacks_update_the_issue(
    api: Api, db: Database, clock: FrozenClock, relay: OutboxRelay, lists_app: ListsApp
) -> None:
    # A town's issue goes up to the county (逐级上报); the county's leader pushes it to the
    # county's 七张问题清单 (流转至本级“七张问题清单”办理).
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(api, "escalateIssue", issue, "xinshi.center", reason="需县级协调")
    reason = "多部门职责交叉，需县委县政府重点关注"
    idem = key()
    first = await push(api, issue, "deqing.leader", reason=reason, idempotencyKey=idem)
    assert first["errors"] == [] and first["replayed"] is False
    pushed = first["push"]
    assert pushed["regionCode"] == "330521" and pushed["reason"] == reason
    assert (pushed["state"], pushed["stateLabel"], pushed["reference"]) == (
        "PENDING",
        "待推送",
        None,
    )
    assert pushed["pushedByName"] == "德清县分管领导"
    # The issue stays where it is in the loop (同步推送, 持续跟踪).
    assert first["issue"]["state"] == "ACCEPTED"
    assert first["issue"]["version"] == issue["version"] + 1

    # A retry with the same key acts once and answers as the first time.
    again = await push(api, issue, "deqing.leader", reason=reason, idempotencyKey=idem)
    assert again["replayed"] is True and again["push"]["id"] == pushed["id"]
    assert again["push"]["state"] == "PENDING"
    current = {**issue, "version": first["issue"]["version"]}
    twice = await push(api, current, "deqing.leader")
    assert [e["code"] for e in twice["errors"]] == ["ALREADY_PUSHED"]
    assert twice["errors"][0]["message"] == "已推送至本级七张问题清单"
    # Who may push: a leader of the tier that holds it (policy.csv), nobody else; an issue
    # out of scope answers exactly like a missing one.
    for who, code in (
        ("deqing.center", "PERMISSION_DENIED"),
        ("huzhou.leader", "PERMISSION_DENIED"),
        ("changxing.center", "NOT_FOUND"),
        ("ent.xinshi-silk", "PERMISSION_DENIED"),
    ):
        refused = await push(api, current, who)
        assert [e["code"] for e in refused["errors"]] == [code], who
    missing = await push(api, {**current, "id": "SXNzdWU6OTg3NjU0MzIx"}, "changxing.center")
    out_of_scope = await push(api, current, "changxing.center")
    assert missing == out_of_scope
    pushes, outbox = await pushes_and_outbox(db)
    assert len(pushes) == 1
    assert [(r.channel, r.recipient) for r in outbox] == [("PROBLEM_LIST", "330521")]

    # The relay posts it, signed with the shared secret, to the county's application.
    clock.advance(dt.timedelta(seconds=5))
    await relay.deliver_due()
    assert lists_app.refused == 0
    [got] = lists_app.received
    assert got["delivery"] == str(outbox[0].id)
    assert got["channel"] == "PROBLEM_LIST"
    assert got["push"]["region"] == "330521" and got["push"]["reason"] == reason
    assert got["push"]["issue"]["number"] == issue["number"]
    assert got["push"]["issue"]["enterprise"]["name"] == "新市丝绸织造有限公司"
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.center"))["issue"]
    [tracked] = view["problemListPushes"]
    assert (tracked["state"], tracked["reference"]) == ("DELIVERED", "QZQD-2026-0001")
    assert tracked["region"]["name"] == "德清县"
    assert tracked["deliveredAt"] is not None

    # The application reports back: the push and the issue's timeline carry it.
    report = {
        "region": "330521",
        "reference": "QZQD-2026-0001",
        "state": "IN_PROGRESS",
        "message": "已转县发改局牵头办理",
    }
    clock.advance(dt.timedelta(minutes=1))
    answer = await callback(api, signed(report, clock.now()))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "region": "330521",
        "reference": "QZQD-2026-0001",
        "state": "IN_PROGRESS",
        "changed": True,
    }
    repeat = await callback(api, signed(report, clock.now()))
    assert repeat.status_code == 200 and repeat.json()["changed"] is False
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.center"))["issue"]
    [tracked] = view["problemListPushes"]
    assert (tracked["state"], tracked["stateLabel"]) == ("IN_PROGRESS", "清单办理中")
    assert tracked["reportMessage"] == "已转县发改局牵头办理"
    types = [e["type"] for e in view["timeline"]]
    assert types[-3:] == ["PROBLEM_LIST_PUSHED", "PROBLEM_LIST_DELIVERED", "PROBLEM_LIST_REPORTED"]
    assert view["timeline"][-1]["message"] == "已转县发改局牵头办理"

    # The loop goes on with the issue meanwhile.
    talent = await unit_id(api, "330521", "boards", "TALENT")
    moved = await step(
        api, "assignIssue", {**issue, "version": view["version"]}, "deqing.center", boardId=talent
    )
    assert moved["state"] == "ASSIGNED"

    # Resolved there: recorded, and the county's center is told (an OA message).
    done = {**report, "state": "RESOLVED", "message": "已协调解决用地指标"}
    assert (await callback(api, signed(done, clock.now()))).status_code == 200
    _, outbox = await pushes_and_outbox(db)
    told = [r for r in outbox if r.topic == "PROBLEM_LIST_RESOLVED"]
    assert [r.recipient for r in told] == ["center:330521"]
    assert "七张问题清单回传：清单已办结" in told[0].payload["text"]
    # A late report of an earlier state does not move it back.
    late = await callback(api, signed(report, clock.now()))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "STALE_REPORT"
    assert late.json()["error"]["state"] == "RESOLVED"

    # The enterprise sees the issue but not its pushes (internal records).
    mine = await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="ent.xinshi-silk")
    assert mine["issue"]["problemListPushes"] == []
    assert "PROBLEM_LIST_PUSHED" not in [e["type"] for e in mine["issue"]["timeline"]]


async def test_callbacks_that_are_not_signed_fresh_and_known_write_nothing(
    api: Api, db: Database, clock: FrozenClock, relay: OutboxRelay
) -> None:
    issue = await held_by_deqing(api)
    assert (await push(api, issue, "deqing.leader"))["errors"] == []
    await relay.deliver_due()
    before = await pushes_and_outbox(db)
    report = {"region": "330521", "reference": "QZQD-2026-0001", "state": "ACCEPTED"}
    now = clock.now()

    bad: list[dict[str, Any]] = [
        signed(report, now, secret="not-the-shared-secret-0123456789"),
        signed(report, now - dt.timedelta(minutes=6)),  # outside the replay window
        signed(report, now + dt.timedelta(minutes=6)),
        {**signed(report, now), "content": json.dumps({**report, "state": "RESOLVED"})},
        {"content": json.dumps(report), "headers": {"Content-Type": "application/json"}},
    ]
    tampered = signed(report, now)
    tampered["headers"] = {**tampered["headers"], TIMESTAMP_HEADER: str(int(now.timestamp()) + 1)}
    bad.append(tampered)
    for request in bad:
        answer = await callback(api, request)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "BAD_SIGNATURE"
    english = signed(report, now, secret="wrong-secret-wrong-secret-0000")
    english["headers"]["Accept-Language"] = "en"
    assert (await callback(api, english)).json()["error"]["message"].startswith("The signature")

    # Signed, but about nothing we pushed: unknown references and another tier's answer alike.
    unknown = await callback(api, signed({**report, "reference": "QZQD-9999"}, now))
    other_tier = await callback(api, signed({**report, "region": "330522"}, now))
    assert unknown.status_code == other_tier.status_code == 404
    assert unknown.json() == other_tier.json()
    assert unknown.json()["error"]["code"] == "UNKNOWN_REFERENCE"
    for broken, field in (
        ({**report, "state": "DONE"}, "state"),
        ({**report, "state": "DELIVERED"}, "state"),
        ({**report, "reference": ""}, "reference"),
        ({**report, "region": "浙江"}, "region"),
        ({**report, "message": 5}, "message"),
        ([report], "body"),
    ):
        raw = json.dumps(broken).encode()
        stamp = str(int(now.timestamp()))
        answer = await api.client.post(
            CALLBACK,
            content=raw,
            headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(SECRET, stamp, raw)},
        )
        assert answer.status_code == 400, broken
        assert answer.json()["error"] == {
            "code": "INVALID_REPORT",
            "message": "回传内容不正确",
            "field": field,
        }
    assert await pushes_and_outbox(db) == before
    accepted = await callback(api, signed(report, now))
    assert accepted.status_code == 200 and accepted.json()["state"] == "ACCEPTED"


async def test_a_push_the_application_does_not_take_fails_and_can_be_pushed_again(
    api: Api, db: Database, clock: FrozenClock, relay: OutboxRelay, lists_app: ListsApp
) -> None:
    issue = await held_by_deqing(api)
    result = await push(api, issue, "deqing.leader")
    issue = {**issue, "version": result["issue"]["version"]}
    lists_app.statuses.append(503)
    await relay.deliver_due()
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.leader"))["issue"]
    [tracked] = view["problemListPushes"]
    assert tracked["state"] == "PENDING" and "HTTP 503" in tracked["lastError"]
    # A 2xx without a receipt is not a delivery either; the second failure is the last.
    lists_app.receipt = False
    clock.advance(dt.timedelta(hours=2))
    await relay.deliver_due()
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.leader"))["issue"]
    [tracked] = view["problemListPushes"]
    assert tracked["state"] == "FAILED" and "no receipt" in tracked["lastError"]
    assert tracked["reference"] is None

    # A leader pushes it again: the same push, queued anew, delivered this time.
    lists_app.receipt = True
    again = await push(api, issue, "deqing.leader", reason="再次推送")
    assert again["errors"] == [] and again["push"]["id"] == tracked["id"]
    assert again["push"]["state"] == "PENDING"
    await relay.deliver_due()
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.leader"))["issue"]
    [tracked] = view["problemListPushes"]
    assert (tracked["state"], tracked["lastError"]) == ("DELIVERED", None)
    assert tracked["reference"] is not None


async def test_a_tier_without_an_application_cannot_push_and_nothing_is_written(
    api: Api, db: Database
) -> None:
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    refused = await push(api, issue, "xinshi.leader")
    assert refused["errors"][0]["code"] == "NO_PROBLEM_LIST_APP"
    assert refused["push"] is None
    blank = await push(api, issue, "xinshi.leader", reason="  ")
    assert blank["errors"][0] == {"code": "REQUIRED", "message": "必填项", "field": "reason"}
    # Not before the tier has it in hand.
    fresh = await submit(api, title="新提交的问题")
    early = await push(api, fresh, "xinshi.leader")
    assert early["errors"][0]["code"] == "INVALID_TRANSITION"
    assert await pushes_and_outbox(db) == ([], [])
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="xinshi.center"))["issue"]
    assert view["version"] == issue["version"]


LIST = """query($r: String, $s: ProblemListPushState, $first: Int) {
  problemListPushes(region: $r, state: $s, first: $first) { totalCount
    nodes { id state reference regionCode pushedByName region { name }
      issue { number title state } } } }"""


async def test_the_pushes_are_listed_by_region_and_state_within_scope(
    api: Api, db: Database, relay: OutboxRelay
) -> None:
    county = await held_by_deqing(api)
    await push(api, county, "deqing.leader")
    city = await held_by_deqing(api, "跨县物流通道受阻")
    city = await step(api, "escalateIssue", city, "deqing.center", reason="需市级协调")
    assert (await push(api, city, "huzhou.leader"))["errors"] == []
    await relay.deliver_due()
    every = await api.gql(LIST, {"first": 10}, as_="huzhou.center")
    assert every["problemListPushes"]["totalCount"] == 2
    assert {n["regionCode"] for n in every["problemListPushes"]["nodes"]} == {"3305", "330521"}
    county_only = await api.gql(LIST, {"r": "330521"}, as_="huzhou.center")
    assert [n["issue"]["title"] for n in county_only["problemListPushes"]["nodes"]] == [
        "用地指标不足影响扩产"
    ]
    delivered = await api.gql(LIST, {"s": "DELIVERED"}, as_="province.monitor")
    assert delivered["problemListPushes"]["totalCount"] == 2
    pending = await api.gql(LIST, {"s": "PENDING"}, as_="province.monitor")
    assert pending["problemListPushes"]["totalCount"] == 0
    # The tiers below 德清's own: its region filter leaves the city's push out.
    own = await api.gql(LIST, {"r": "330521"}, as_="deqing.center")
    assert own["problemListPushes"]["totalCount"] == 1
    for outsider in ("changxing.center", "ent.deqing-geo", "hangzhou.center"):
        hidden = await api.gql(LIST, {}, as_=outsider)
        assert hidden["problemListPushes"] == {"totalCount": 0, "nodes": []}, outsider
    bad = await api.post(LIST, {"r": "abc"}, as_="huzhou.center")
    assert bad.json()["errors"][0]["extensions"]["code"] == "INVALID_REGION_CODE"


DASHBOARD = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") {
  problemLists { total byState { state stateLabel count } latest { reference issue { title } } }
} }"""


async def test_the_dashboard_shows_the_pushes_of_the_period(
    api: Api, db: Database, clock: FrozenClock, relay: OutboxRelay
) -> None:
    issue = await held_by_deqing(api)
    await push(api, issue, "deqing.leader")
    await relay.deliver_due()
    report = {"region": "330521", "reference": "QZQD-2026-0001", "state": "ACCEPTED"}
    assert (await callback(api, signed(report, clock.now()))).status_code == 200
    other = await held_by_deqing(api, "融资担保难")
    await push(api, other, "deqing.leader")
    data = await api.gql(DASHBOARD, {"r": "3305"}, as_="huzhou.leader")
    lists = data["dashboard"]["problemLists"]
    assert lists["total"] == 2
    counts = {c["state"]: c["count"] for c in lists["byState"]}
    assert counts == {
        "PENDING": 1,
        "FAILED": 0,
        "DELIVERED": 0,
        "ACCEPTED": 1,
        "IN_PROGRESS": 0,
        "RESOLVED": 0,
        "REJECTED": 0,
    }
    assert [p["issue"]["title"] for p in lists["latest"]] == ["融资担保难", "用地指标不足影响扩产"]
    later = await api.gql(
        DASHBOARD.replace("2026-Q1", "2026-Q2"), {"r": "3305"}, as_="huzhou.leader"
    )
    assert later["dashboard"]["problemLists"]["total"] == 0
    sibling = await api.gql(DASHBOARD, {"r": "330522"}, as_="changxing.center")
    assert sibling["dashboard"]["problemLists"]["total"] == 0


class TestProblemListPushScope(ScopeVisibilityMixin):
    list_query = "{ problemListPushes(first: 100) { nodes { id } } }"
    list_path = ("problemListPushes",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        issue = await held_by_deqing(api)
        pushed = (await push(api, issue, "deqing.leader"))["push"]["id"]
        return [
            ScopeCase(pushed, "deqing.center", "changxing.center"),
            ScopeCase(pushed, "huzhou.center", "hangzhou.center"),
            ScopeCase(pushed, "province.monitor", "ent.deqing-geo"),
            ScopeCase(pushed, "deqing.leader", "deqing.talent"),
        ]


async def test_a_page_of_pushes_costs_the_same_statements_whatever_its_size(
    api: Api, db: Database
) -> None:
    for n in range(6):
        issue = await held_by_deqing(api, f"重大问题{n}")
        assert (await push(api, issue, "deqing.leader"))["errors"] == []

    async def statements(first: int) -> int:
        for _ in range(2):  # warm the account and reference caches
            await api.gql(LIST, {"first": first}, as_="deqing.center")
        with counting(db) as seen:
            data = await api.gql(LIST, {"first": first}, as_="deqing.center")
        assert len(data["problemListPushes"]["nodes"]) == first
        assert data["problemListPushes"]["totalCount"] == 6
        return len(seen)

    small, large = await statements(2), await statements(6)
    assert small == large
    # One read-only transaction for the request: its scope, the page, its total, and the
    # page's issues in one batch (regions come from the reference cache).
    assert large == 4


def _downgrade(engine_conn: Any, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = engine_conn
    command.downgrade(config, revision)


async def test_the_migration_turns_the_old_flags_into_pushes_queued_for_delivery(
    api: Api, db: Database, clock: FrozenClock, relay: OutboxRelay, lists_app: ListsApp
) -> None:
    """Migration 0018: the four home-made kinds go; each flag becomes a push the leader
    already decided on, queued in the outbox, delivered once the tier is connected."""
    issue = await held_by_deqing(api)
    script = ScriptDirectory.from_config(alembic_config())
    ours = next(r for r in script.walk_revisions() if r.path.endswith("_problem_list_push.py"))
    assert isinstance(ours.down_revision, str)
    async with db.admin.begin() as conn:
        await conn.run_sync(_downgrade, ours.down_revision)
    try:
        async with db.admin.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO problem_list_entry (issue_id, region_code, kind, note,"
                    " flagged_by, flagged_at) SELECT i.id, '330521', 'RECURRING',"
                    " '同类问题反复出现', a.id, now() FROM issue i, account a"
                    " WHERE a.username = 'deqing.leader'"
                )
            )
    finally:
        await upgrade(db.admin)
        # Connections that prepared statements on the dropped table start afresh.
        for engine in (db.engine, db.system):
            await engine.dispose()
    pushes, outbox = await pushes_and_outbox(db)
    assert [(p.region_code, p.state, p.reason) for p in pushes] == [
        ("330521", "PENDING", "【反复反映问题】同类问题反复出现")
    ]
    assert [(r.channel, r.recipient, r.payload) for r in outbox] == [
        ("PROBLEM_LIST", "330521", {"pushId": pushes[0].id})
    ]
    # The migration queued it at the database's time: the relay runs after it.
    clock.advance(outbox[0].next_attempt_at - clock.now() + dt.timedelta(seconds=1))
    await relay.deliver_due()
    [got] = lists_app.received
    assert got["push"]["reason"] == "【反复反映问题】同类问题反复出现"
    view = (await api.gql(ISSUE_PUSHES, {"id": issue["id"]}, as_="deqing.leader"))["issue"]
    assert [(p["state"], p["reference"]) for p in view["problemListPushes"]] == [
        ("DELIVERED", "QZQD-2026-0001")
    ]
