"""Administration of time-limit rules and webhook endpoints through the API: scoped like
accounts, audited, bad input typed with nothing written; a new rule drives the clocks
that start after it; notifications reach the endpoints of their region's subtree, signed
with each endpoint's own secret."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.services.outbox_relay import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboxRelay,
    verify_signature,
)
from closedloop.settings import Settings
from tests.api.issue_helpers import key, step, submit
from tests.conftest import Api
from tests.scope import ScopeCase, ScopeVisibilityMixin

SET_RULE = """mutation($input: SetTimeLimitRuleInput!) { setTimeLimitRule(input: $input) {
  rule { id regionCode category assignDays replyDays workingDays version }
  errors { code field } } }"""
REMOVE_RULE = """mutation($input: RemoveTimeLimitRuleInput!) { removeTimeLimitRule(input: $input) {
  rule { id } errors { code field } } }"""
RULES = """query($r: String) { timeLimitRules(regionWithin: $r) { totalCount
  nodes { id regionCode category assignDays replyDays workingDays } } }"""
ADD_HOOK = """mutation($input: AddWebhookEndpointInput!) { addWebhookEndpoint(input: $input) {
  endpoint { id regionCode url eventKinds active version secretHint }
  errors { code field } } }"""
UPDATE_HOOK = """mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { endpoint { id active version secretHint }
  errors { code field } } }"""
AUDIT = """query($f: AuditLogFilterInput) { auditLog(filter: $f, first: 50) { totalCount
  nodes { action objectKind actorName before after } } }"""
CREATE = """mutation($input: CreateAccountInput!) { createAccount(input: $input) {
  account { id } errors { code } } }"""


async def city_admin(api: Api, region: str) -> str:
    name = f"admin{region}.{uuid.uuid4().hex[:8]}"
    out = await api.gql(
        CREATE,
        {
            "input": {
                "username": name,
                "displayName": "管理员",
                "binding": {"role": "ADMIN", "regionCode": region},
            }
        },
        as_="admin",
    )
    assert out["createAccount"]["errors"] == []
    return name


async def audit_total(api: Api) -> int:
    total: int = (await api.gql(AUDIT, as_="admin"))["auditLog"]["totalCount"]
    return total


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


@pytest.mark.usefixtures("clean_issues")
async def test_a_county_rule_drives_the_clocks_that_start_after_it(api: Api) -> None:
    deqing = await city_admin(api, "330521")
    rule = {"regionCode": "330521", "category": "APPEAL", "assignDays": 3, "replyDays": 10}
    made = await api.gql(
        SET_RULE, {"input": {**rule, "workingDays": True, "idempotencyKey": key()}}, as_=deqing
    )
    assert made["setTimeLimitRule"]["errors"] == []
    assert made["setTimeLimitRule"]["rule"]["version"] == 1
    listed = await api.gql(RULES, {"r": "330521102"}, as_="xinshi.center")
    assert any(
        n["regionCode"] == "330521" and n["category"] == "APPEAL" and n["workingDays"]
        for n in listed["timeLimitRules"]["nodes"]
    )
    # An issue of the county's town, triaged as an appeal: its reply clock counts 10 working
    # days from the assignment.
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    talent = await api.gql(
        'query { region(code: "330521102") { boards { id key } } }', as_="xinshi.center"
    )
    board = next(b["id"] for b in talent["region"]["boards"] if b["key"] == "TALENT")
    issue = await step(api, "triageIssue", issue, "xinshi.center", category="APPEAL")
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=board)
    due = dt.datetime.fromisoformat(issue["dueAt"])
    # T0 is Monday 2026-03-02 09:00 Beijing: 10 working days later is Monday 2026-03-16.
    assert due.astimezone(dt.timezone(dt.timedelta(hours=8))).date() == dt.date(2026, 3, 16)
    # Changed with its version; removed, and the default applies again.
    rule_id = made["setTimeLimitRule"]["rule"]["id"]
    stale = await api.gql(SET_RULE, {"input": {**rule, "expectedVersion": 7}}, as_=deqing)
    assert codes(stale["setTimeLimitRule"]) == ["VERSION_CONFLICT"]
    gone = await api.gql(REMOVE_RULE, {"input": {"id": rule_id, "expectedVersion": 1}}, as_=deqing)
    assert gone["removeTimeLimitRule"]["errors"] == []
    log = await api.gql(AUDIT, {"f": {"objectKind": "TIME_LIMIT_RULE"}}, as_=deqing)
    actions = [n["action"] for n in log["auditLog"]["nodes"]][:2]
    assert actions == ["TIME_LIMIT_RULE_REMOVED", "TIME_LIMIT_RULE_SET"]


async def test_rules_bad_input_and_scope(api: Api) -> None:
    deqing = await city_admin(api, "330521")
    before = await audit_total(api)
    base = {"regionCode": "330521", "assignDays": 2, "replyDays": 15}
    for change, code in (
        ({"regionCode": "330522"}, "REGION_OUT_OF_SCOPE"),
        ({"regionCode": "3305"}, "REGION_OUT_OF_SCOPE"),
        ({"regionCode": "330599"}, "REGION_NOT_FOUND"),
        ({"assignDays": 0}, "INVALID_TIME_LIMIT"),
        ({"replyDays": 10_000}, "INVALID_TIME_LIMIT"),
    ):
        out = await api.gql(SET_RULE, {"input": {**base, **change}}, as_=deqing)
        assert codes(out["setTimeLimitRule"]) == [code], change
    denied = await api.gql(SET_RULE, {"input": base}, as_="deqing.center")
    assert codes(denied["setTimeLimitRule"]) == ["PERMISSION_DENIED"]
    assert await audit_total(api) == before
    # Their own error type and code enum (not the accounts'), in both languages.
    typed = """mutation($input: SetTimeLimitRuleInput!) { setTimeLimitRule(input: $input) {
      errors { __typename code message } } }"""
    for locale, message in (("zh-CN", "时限天数不在允许范围内（1–365）"), ("en", None)):
        response = await api.post(
            typed,
            {"input": {**base, "assignDays": 0}},
            as_=deqing,
            headers={"Accept-Language": locale},
        )
        (error,) = response.json()["data"]["setTimeLimitRule"]["errors"]
        assert error["__typename"] == "RuleError" and error["code"] == "INVALID_TIME_LIMIT"
        if message is not None:
            assert error["message"] == message
        else:
            assert error["message"].startswith("The number of days is out of range")
    enum = await api.gql('{ __type(name: "RuleErrorCode") { enumValues { name } } }', as_=deqing)
    names = {v["name"] for v in enum["__type"]["enumValues"]}
    assert "INVALID_URL" in names and "USERNAME_TAKEN" not in names


class _Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


@pytest.mark.usefixtures("clean_issues")
async def test_notifications_reach_the_endpoints_of_their_subtree(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    huzhou = await city_admin(api, "3305")
    secret = "s" * 12 + uuid.uuid4().hex[:8]
    add = {
        "input": {
            "regionCode": "330521",
            "url": "https://deqing.example/hook?token=abc",
            "secret": secret,
            "eventKinds": ["ISSUE_ACCEPTED"],
            "idempotencyKey": key(),
        }
    }
    hook = await api.gql(ADD_HOOK, add, as_=huzhou)
    assert await api.gql(ADD_HOOK, add, as_=huzhou) == hook  # a retry adds nothing
    endpoint = hook["addWebhookEndpoint"]["endpoint"]
    assert hook["addWebhookEndpoint"]["errors"] == []
    assert endpoint["secretHint"] == "…" + secret[-4:]
    other = await api.gql(
        ADD_HOOK,
        {
            "input": {
                "regionCode": "330522",
                "url": "https://changxing.example/h",
                "secret": "x" * 20,
            }
        },
        as_=huzhou,
    )
    assert other["addWebhookEndpoint"]["errors"] == []
    bad = await api.gql(
        ADD_HOOK,
        {"input": {"regionCode": "330521", "url": "ftp://x", "secret": "x" * 20}},
        as_=huzhou,
    )
    assert codes(bad["addWebhookEndpoint"]) == ["INVALID_URL"]
    short = await api.gql(
        ADD_HOOK,
        {"input": {"regionCode": "330521", "url": "https://x.example", "secret": "x"}},
        as_=huzhou,
    )
    assert codes(short["addWebhookEndpoint"]) == ["INVALID_SECRET"]
    outside = await api.gql(
        ADD_HOOK,
        {"input": {"regionCode": "3301", "url": "https://x.example", "secret": "x" * 20}},
        as_=huzhou,
    )
    assert codes(outside["addWebhookEndpoint"]) == ["REGION_OUT_OF_SCOPE"]

    issue = await submit(api)  # ent.xinshi-silk of 330521102
    await step(api, "acceptIssue", issue, "xinshi.center")
    receiver = _Receiver()
    relay = OutboxRelay(
        db, clock, Settings(webhook_urls=[]), transport=httpx.MockTransport(receiver)
    )
    report = await relay.deliver_due()
    assert report.delivered >= 1
    to_deqing = [r for r in receiver.requests if r.url.host == "deqing.example"]
    assert len(to_deqing) == 1  # ISSUE_ACCEPTED only; nothing for Changxing
    assert not [r for r in receiver.requests if r.url.host == "changxing.example"]
    sent = to_deqing[0]
    assert verify_signature(
        secret, sent.headers[TIMESTAMP_HEADER], sent.content, sent.headers[SIGNATURE_HEADER]
    )
    # Switched off: nothing more is posted to it.
    off = await api.gql(
        UPDATE_HOOK,
        {"input": {"id": endpoint["id"], "expectedVersion": 1, "active": False}},
        as_=huzhou,
    )
    assert off["updateWebhookEndpoint"]["endpoint"]["active"] is False
    log = await api.gql(AUDIT, {"f": {"objectKind": "WEBHOOK_ENDPOINT"}}, as_=huzhou)
    entries = log["auditLog"]["nodes"]
    assert entries[0]["action"] == "WEBHOOK_CHANGED"
    assert "token" not in str(entries) and secret not in str(entries)
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("DELETE FROM webhook_endpoint"))


class TestWebhookEndpointScope(ScopeVisibilityMixin):
    list_query = "{ webhookEndpoints(first: 100) { nodes { id } } }"
    list_path = ("webhookEndpoints",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        huzhou = await city_admin(api, "3305")
        quzhou = await city_admin(api, "3308")
        hook = await api.gql(
            ADD_HOOK,
            {
                "input": {
                    "regionCode": "3305",
                    "url": "https://h.example/x",
                    "secret": "y" * 20,
                    "eventKinds": ["NO_SUCH_KIND_EVER"],
                }
            },
            as_=huzhou,
        )
        found = hook["addWebhookEndpoint"]["endpoint"]["id"]
        return [ScopeCase(found, huzhou, quzhou), ScopeCase(found, "admin", "huzhou.center")]
