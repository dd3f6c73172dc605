"""The Casbin policy decides: who reads internal timeline entries follows its
``issue.read_internal`` rows through the API, and no row of it is dead (each row, removed,
changes a decision the application makes while serving GraphQL requests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import casbin
import pytest

from closedloop.authz import enforcer
from closedloop.authz.enforcer import allowed, allowed_targets
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.services.demo import credit_code
from closedloop.settings import Settings
from tests.api.channel_helpers import PUSH, ChannelApi, NewCredentials, new_channel
from tests.api.evaluation_helpers import list_entry, record
from tests.api.issue_helpers import ok, run, step, submit, unit_id
from tests.conftest import DEMO_CREDIT, XINSHI_CREDIT, Api

pytestmark = pytest.mark.usefixtures("clean_issues")

AUTHZ = resources.files("closedloop") / "authz"
Row = tuple[str, str, str]


def _enforcer() -> casbin.Enforcer:
    return casbin.Enforcer(str(AUTHZ / "model.conf"), str(AUTHZ / "policy.csv"))


@contextmanager
def _policy(
    monkeypatch: pytest.MonkeyPatch, without: tuple[Row, ...] = ()
) -> Iterator[casbin.Enforcer]:
    """The application decides with the shipped policy less ``without``."""
    changed = _enforcer()
    for row in without:
        assert changed.remove_policy(*row), row
    with monkeypatch.context() as patch:
        patch.setattr(enforcer, "get_enforcer", lambda: changed)
        allowed.cache_clear()
        allowed_targets.cache_clear()
        try:
            yield changed
        finally:
            allowed.cache_clear()
            allowed_targets.cache_clear()


ISSUE_VIEW = """query($id: ID!) { issue(id: $id) {
  timeline { message public } lastEvent { message } } }"""
POOL_VIEW = """{ issues(first: 10) { nodes { id lastEvent { message } } } }"""


async def _view(api: Api, issue_id: str, as_: str) -> tuple[list[str], str, str]:
    data = await api.gql(ISSUE_VIEW, {"id": issue_id}, as_=as_)
    notes = [e["message"] for e in data["issue"]["timeline"] if e["message"] in NOTES]
    pool = await api.gql(POOL_VIEW, as_=as_)
    (listed,) = [n for n in pool["issues"]["nodes"] if n["id"] == issue_id]
    return notes, data["issue"]["lastEvent"]["message"], listed["lastEvent"]["message"]


NOTES = ("公开进展", "内部研判")


async def test_internal_entries_follow_the_policy(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue = await submit(api)  # ent.xinshi-silk, held by the town of Xinshi
    issue = await step(api, "addIssueNote", issue, "xinshi.center", text=NOTES[0], public=True)
    issue = await step(api, "addIssueNote", issue, "xinshi.center", text=NOTES[1], public=False)
    everything = (list(NOTES), NOTES[1], NOTES[1])
    public = ([NOTES[0]], NOTES[0], NOTES[0])

    # The shipped policy: staff of the town and the county read internal entries, the
    # enterprise does not.
    assert await _view(api, issue["id"], "xinshi.center") == everything
    assert await _view(api, issue["id"], "deqing.center") == everything
    notes = await api.gql(ISSUE_VIEW, {"id": issue["id"]}, as_="ent.xinshi-silk")
    assert [e["message"] for e in notes["issue"]["timeline"] if e["message"] in NOTES] == [NOTES[0]]

    # Without the county center's row for issues below it: the county reads the public
    # entries, the town (its own issue) still reads all.
    with _policy(monkeypatch, without=(("CENTER_STAFF", "issue.read_internal", "DESCENDANT"),)):
        assert await _view(api, issue["id"], "deqing.center") == public
        assert await _view(api, issue["id"], "xinshi.center") == everything
        assert await _view(api, issue["id"], "deqing.leader") == everything

    # Without both center rows: no center reads internal entries.
    both = (
        ("CENTER_STAFF", "issue.read_internal", "DESCENDANT"),
        ("CENTER_STAFF", "issue.read_internal", "SELF"),
    )
    with _policy(monkeypatch, without=both):
        assert await _view(api, issue["id"], "xinshi.center") == public
        assert await _view(api, issue["id"], "deqing.center") == public
    assert await _view(api, issue["id"], "deqing.center") == everything


# --- no dead rows -----------------------------------------------------------------------

ACCOUNTS = (
    "ent.deqing-geo",
    "deqing.center",
    "deqing.leader",
    "deqing.talent",
    "deqing.market",
    "deqing.evaluator",
    "province.monitor",
    "admin",
)
# The region each account calls its own, and one below it.
OWN_AND_BELOW = {
    "ent.deqing-geo": ("330521001", "330521001"),
    "province.monitor": ("33", "3305"),
    "admin": ("33", "3305"),
}
DEFAULT_OWN_AND_BELOW = ("330521", "330521102")

READS = """query($own: String!, $below: String!) {
  regions(parentCode: "33") { totalCount }
  own: region(code: $own) { center { id } }
  below: region(code: $below) { center { id } }
  issues(first: 5) { nodes { id timeline { id } lastEvent { id } enterprise { id } } }
  cases(first: 1) { totalCount }
  problemListPushes(region: $own) { totalCount nodes { id } }
}"""
DASHBOARD = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") { asOf } }"""
SCORES = """query($r: String!) { scores(targetKind: REGION, region: $r, period: "2026-Q1")
  { entries { total } } }"""
NODE = """query($id: ID!) { node(id: $id) { id } }"""


def _actions(issue: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every issue mutation with valid input and a stale version: the permission is
    checked, nothing is written."""
    stale = {"id": issue["id"], "expectedVersion": 999_999}
    return [
        ("acceptIssue", stale),
        ("rejectIssue", {**stale, "reason": "重复"}),
        ("triageIssue", {**stale, "category": "APPEAL"}),
        ("assignIssue", stale),
        ("startIssue", stale),
        ("addIssueNote", {**stale, "text": "x"}),
        ("handBackIssue", {**stale, "reason": "不属本单位"}),
        ("resolveIssue", {**stale, "reply": "已办结"}),
        ("rateIssue", {**stale, "grade": "SATISFIED"}),
        ("urgeIssue", stale),
        ("reopenIssue", {**stale, "reason": "未解决"}),
        ("escalateIssue", {**stale, "reason": "需上级协调"}),
        ("delegateIssue", {**stale, "toRegion": "330521102", "dueAt": "2026-03-20T00:00:00Z"}),
        ("returnIssue", {**stale, "reason": "退回"}),
        ("coordinateIssue", {**stale, "level": "LEADER_MEETING", "reason": "协调"}),
        (
            "recordMeetingDecision",
            {**stale, "meetingDate": "2026-03-05", "chair": "县长", "decision": "专题研究"},
        ),
        (
            "pushToProblemLists",
            {"issueId": issue["id"], "expectedVersion": 999_999, "reason": "需党政重点关注"},
        ),
        (
            "mergeIssues",
            {
                "primaryId": issue["id"],
                "primaryVersion": 999_999,
                "duplicates": [{"id": other["id"], "expectedVersion": other["version"]}],
            },
        ),
        ("confirmRecurrence", {**stale, "previousId": other["id"]}),
        ("verifyIssue", {**stale, "outcome": "CONFIRMED"}),
    ]


ADMINISTRATION = """query($own: String!, $below: String!) {
  own: accounts(filter: {regionWithin: $own}) { totalCount }
  below: accounts(filter: {regionWithin: $below}) { totalCount }
  enterprises(filter: {regionWithin: $own}) { totalCount }
  auditLog(filter: {regionWithin: $own}) { totalCount } }"""
CREATE_ACCOUNT = """mutation($input: CreateAccountInput!) { createAccount(input: $input) {
  errors { code } } }"""
REGISTER_ENTERPRISE = """mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { errors { code } } }"""
SET_TIME_LIMIT_RULE = """mutation($input: SetTimeLimitRuleInput!) {
  setTimeLimitRule(input: $input) { errors { code } } }"""
SHARE = """mutation($input: ShareCaseInput!) { shareCase(input: $input) { errors { code } } }"""
SCHEMES = """{ scoringSchemes(first: 1) { totalCount } }"""
UPLOAD_SCHEME = """mutation($input: UploadScoringSchemeInput!) {
  uploadScoringScheme(input: $input) { errors { code } } }"""
ACTIVATE_SCHEME = """mutation($input: ActivateScoringSchemeInput!) {
  activateScoringScheme(input: $input) { errors { code } } }"""


async def _scenario(
    api: Api,
    issues: dict[str, dict[str, Any]],
    enterprises: list[str],
    channel: NewCredentials,
) -> None:
    # A channel system pushes records for enterprises of its region and below it.
    records = [
        {"recordId": f"probe-{n}", "creditCode": credit, "title": "t", "content": "c"}
        for n, credit in enumerate((DEMO_CREDIT, XINSHI_CREDIT))
    ]
    await api.post(PUSH, {"input": {"records": records}}, as_=channel.client_id)
    for account in (*ACCOUNTS, channel.client_id):
        own, below = OWN_AND_BELOW.get(account, DEFAULT_OWN_AND_BELOW)
        await api.post(READS, {"own": own, "below": below}, as_=account)
        for region in (own, below):
            await api.post(DASHBOARD, {"r": region}, as_=account)
            await api.post(SCORES, {"r": region}, as_=account)
        for enterprise in enterprises:
            await api.post(NODE, {"id": enterprise}, as_=account)
        for issue in issues.values():
            await api.post(ISSUE_VIEW, {"id": issue["id"]}, as_=account)
            for name, input_ in _actions(issue, issues["other"]):
                await run(api, name, input_, account)
            await api.post(
                SHARE, {"input": {"issueId": issue["id"], "expectedVersion": 999_999}}, as_=account
            )
        for credit in (DEMO_CREDIT, XINSHI_CREDIT):
            await run(
                api,
                "submitIssue",
                {
                    "title": "t",
                    "content": "c",
                    "channel": "HOTLINE_12345",
                    "creditCode": credit,
                    "idempotencyKey": f"probe-{account}-{credit}",
                },
                account,
            )
        for region in (own, below):
            target = {"targetKind": "REGION", "regionCode": region}
            await record(
                api,
                account,
                indicator="ENTERPRISE_REVIEW",
                period="2026-Q1",
                value={"points": "8"},
                **target,
            )
            await list_entry(api, account, kind="RED", reason="经验推广", **target)
        # Administration: the lists, and each mutation with input refused after the policy
        # is asked (nothing is written).
        await api.post(ADMINISTRATION, {"own": own, "below": below}, as_=account)
        # Scoring scheme versions: the list, an invalid upload, an activation of nothing.
        await api.post(SCHEMES, as_=account)
        await api.post(UPLOAD_SCHEME, {"input": {"document": {}, "versionLabel": "x"}}, as_=account)
        await api.post(
            ACTIVATE_SCHEME,
            {"input": {"id": "U2NvcmluZ1NjaGVtZVZlcnNpb246OTk5OTk5", "effectiveFrom": "2027"}},
            as_=account,
        )
        for region in (own, below):
            await api.post(
                CREATE_ACCOUNT,
                {
                    "input": {
                        "username": "a b",
                        "displayName": "x",
                        "binding": {"role": "CENTER_STAFF", "regionCode": region},
                    }
                },
                as_=account,
            )
            await api.post(
                SET_TIME_LIMIT_RULE,
                {"input": {"regionCode": region, "assignDays": 0, "replyDays": 15}},
                as_=account,
            )
            await api.post(
                REGISTER_ENTERPRISE,
                {"input": {"creditCode": "x", "name": "x", "regionCode": region}},
                as_=account,
            )


async def _new_enterprise(api: Api, as_: str, base17: str, region: str) -> dict[str, Any]:
    taken = {"title": "新企业诉求", "content": "首次登记", "channel": "HOTLINE_12345"}
    new = {"creditCode": credit_code(base17), "enterpriseName": base17, "enterpriseRegion": region}
    return await ok(api, "submitIssue", {**taken, **new}, as_)


async def _enterprise_of(api: Api, issue: dict[str, Any]) -> str:
    query = "query($id: ID!) { node(id: $id) { ... on Issue { enterprise { id } } } }"
    data = await api.gql(query, {"id": issue["id"]}, as_="admin")
    found: str = data["node"]["enterprise"]["id"]
    return found


async def test_every_policy_row_changes_a_decision(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    capi = ChannelApi(api, settings)  # a 德清 12345 hotline's service account too
    channel = await new_channel(db, clock)
    await capi.sign_in(channel)

    # Issues at every relation the demo accounts have: ent.deqing-geo's (its own), taken
    # in by Deqing's center (held by Deqing), one assigned to Deqing's talent board and one
    # to its market department, and one held by the town of Xinshi (below Deqing).
    async def deqing_held() -> dict[str, Any]:
        taken = {"title": "用地指标", "content": "扩产用地", "channel": "HOTLINE_12345"}
        return await ok(api, "submitIssue", {**taken, "creditCode": DEMO_CREDIT}, "deqing.center")

    own = await deqing_held()
    board = await step(api, "acceptIssue", await deqing_held(), "deqing.center")
    talent = await unit_id(api, "330521", "boards", "TALENT")
    board = await step(
        api, "triageIssue", board, "deqing.center", category="APPEAL", boardId=talent
    )
    department = await step(api, "acceptIssue", await deqing_held(), "deqing.center")
    market = await unit_id(api, "330521", "departments", "MARKET_REGULATION")
    department = await step(
        api, "triageIssue", department, "deqing.center", category="APPEAL", departmentId=market
    )
    town = await submit(api)  # ent.xinshi-silk
    issues = {"own": own, "board": board, "department": department, "other": town}
    # Enterprises registered at a county and at the province itself (not only in towns).
    county = await _new_enterprise(api, "deqing.center", "91330521MA2B3K4Y6", "330521")
    province = await _new_enterprise(api, "province.center", "91330000MA2B3K4Y7", "33")
    enterprises = [await _enterprise_of(api, i) for i in (own, town, county, province)]

    decisions: set[Row] = set()
    shipped = _enforcer()

    def recording(role: str, action: str, target: str) -> bool:
        decisions.add((role, action, target))
        return bool(shipped.enforce(role, action, target))

    with _policy(monkeypatch) as live:
        monkeypatch.setattr(live, "enforce", recording)
        await _scenario(capi, issues, enterprises, channel)

    granted = {asked for asked in decisions if shipped.enforce(*asked)}
    dead = []
    rows = [(row[0], row[1], row[2]) for row in shipped.get_policy()]
    for role, action, target in rows:
        shipped.remove_policy(role, action, target)
        if all(shipped.enforce(*asked) for asked in granted):
            dead.append((role, action, target))
        shipped.add_policy(role, action, target)
    assert not dead, f"policy rows that change no decision (dead policy): {dead}"
