"""Accounts and enterprises administered through the GraphQL API over HTTP: the done-when
walk of issue #13, bad input, the audit log, deactivation across API processes, the scope
of every new list and node, and fixed statement counts of the lists."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import event

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.services.demo import credit_code
from closedloop.settings import Settings
from tests.api.issue_helpers import key, step, submit
from tests.api.test_query_counts import counting
from tests.conftest import Api
from tests.live import live_server, until
from tests.scope import ScopeCase, ScopeVisibilityMixin

CREATE = """mutation($input: CreateAccountInput!) { createAccount(input: $input) {
  account { id username role active version region { code } board { id name }
    enterprise { id } }
  errors { code field message } } }"""
DEACTIVATE = """mutation($input: DeactivateAccountInput!) { deactivateAccount(input: $input) {
  account { id active version } errors { code field } } }"""
UPDATE = """mutation($input: UpdateAccountInput!) { updateAccount(input: $input) {
  account { id displayName role version region { code } } errors { code field } } }"""
REGISTER = """mutation($input: RegisterEnterpriseInput!) { registerEnterprise(input: $input) {
  enterprise { id creditCode name contactName contactPhone version region { code } }
  errors { code field message } } }"""
UPDATE_ENTERPRISE = """mutation($input: UpdateEnterpriseInput!) { updateEnterprise(input: $input) {
  enterprise { id name contactPhone version } errors { code field } } }"""
BOARDS = """query($c: String!) { region(code: $c) { boards { id key } } }"""
AUDIT = """query($f: AuditLogFilterInput) { auditLog(filter: $f, first: 50) { totalCount
  nodes { id actorName action actionLabel objectKind objectId regionCode before after } } }"""


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def fresh_credit_code(region: str = "330802") -> str:
    body = uuid.uuid4().hex[:9].upper().replace("I", "1").replace("O", "0")
    return credit_code("91" + region[:6].ljust(6, "0") + body)


async def create(api: Api, who: str, **fields: Any) -> dict[str, Any]:
    data = await api.gql(CREATE, {"input": {"idempotencyKey": key(), **fields}}, as_=who)
    payload: dict[str, Any] = data["createAccount"]
    return payload


def staff(role: str, region: str, **more: Any) -> dict[str, Any]:
    return {"role": role, "regionCode": region, **more}


async def board_id(api: Api, region: str, key_: str, who: str) -> str:
    boards = (await api.gql(BOARDS, {"c": region}, as_=who))["region"]["boards"]
    return next(b["id"] for b in boards if b["key"] == key_)


async def city_admin(api: Api, region: str = "3308") -> str:
    name = unique(f"admin{region}")
    made = await create(
        api, "admin", username=name, displayName="市管理员", binding=staff("ADMIN", region)
    )
    assert made["errors"] == [], made
    return name


async def audit_total(api: Api) -> int:
    total: int = (await api.gql(AUDIT, as_="admin"))["auditLog"]["totalCount"]
    return total


@pytest.mark.usefixtures("clean_issues")
async def test_done_when_a_city_admin_builds_its_tier_and_a_deactivation_bites_at_once(
    api: Api,
) -> None:
    # The province admin creates a 衢州 (3308) city admin.
    quzhou = await city_admin(api)
    # That admin creates a county center account and a board handler in its subtree...
    center = unique("kecheng.center")
    made = await create(
        api,
        quzhou,
        username=center,
        displayName="柯城区企业综合服务中心",
        binding=staff("CENTER_STAFF", "330802"),
    )
    assert made["errors"] == []
    assert made["account"]["region"] == {"code": "330802"}
    talent = await board_id(api, "330802", "TALENT", quzhou)
    handler = await create(
        api,
        quzhou,
        username=unique("kecheng.talent"),
        displayName="柯城区人才板块",
        binding=staff("BOARD_HANDLER", "330802", boardId=talent),
    )
    assert handler["errors"] == [] and handler["account"]["board"]["id"] == talent
    # ... and fails to create one in 湖州 (3305): nothing written, nothing audited.
    before = await audit_total(api)
    refused = await create(
        api, quzhou, username=unique("x"), displayName="x", binding=staff("CENTER_STAFF", "3305")
    )
    assert refused["account"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("REGION_OUT_OF_SCOPE", "regionCode")
    ]
    assert await audit_total(api) == before
    # The new center account accepts an issue of its county.
    ent = await api.gql(
        REGISTER,
        {
            "input": {
                "creditCode": fresh_credit_code(),
                "name": "衢州柯城某材料公司",
                "regionCode": "330802",
                "contactName": "王经理",
                "contactPhone": "0570-1234567",
            }
        },
        as_=quzhou,
    )
    assert ent["registerEnterprise"]["errors"] == []
    issue = await submit(
        api,
        as_=center,
        channel="HOTLINE_12345",
        creditCode=ent["registerEnterprise"]["enterprise"]["creditCode"],
    )
    accepted = await step(api, "acceptIssue", issue, center)
    assert accepted["state"] == "ACCEPTED"
    # Deactivating it makes its next request 401, with its still-valid token.
    gone = await api.gql(
        DEACTIVATE, {"input": {"id": made["account"]["id"], "expectedVersion": 1}}, as_=quzhou
    )
    assert gone["deactivateAccount"] == {
        "account": {"id": made["account"]["id"], "active": False, "version": 2},
        "errors": [],
    }
    after = await api.post("{ viewer { username } }", as_=center)
    assert after.status_code == 401


async def test_a_deactivation_reaches_every_api_process(
    api: Api, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    quzhou = await city_admin(api)
    name = unique("qz.center")
    made = await create(
        api, quzhou, username=name, displayName="x", binding=staff("CENTER_STAFF", "3308")
    )
    async with live_server(settings, db, clock) as other:
        import httpx

        headers = {"Authorization": f"Bearer {api.token(name)}"}
        query = {"query": "{ viewer { username } }"}
        async with httpx.AsyncClient(base_url=other.url) as client:
            await until(lambda: other.runtime.bus is not None and other.runtime.bus.connected)
            assert (await client.post("/graphql", json=query, headers=headers)).status_code == 200
            # The other process remembers the account now...
            await until(lambda: name in other.runtime.principals)
            await api.gql(DEACTIVATE, {"input": {"id": made["account"]["id"]}}, as_=quzhou)
            # ... and forgets it when the account's NOTIFY arrives: the token stops working.
            await until(lambda: name not in other.runtime.principals)
            refused = await client.post("/graphql", json=query, headers=headers)
            assert refused.status_code == 401


async def test_bad_input_is_typed_and_writes_nothing(api: Api) -> None:
    quzhou = await city_admin(api)
    huzhou_talent = await board_id(api, "3305", "TALENT", "admin")
    cases = [
        (staff("ADMIN", "33"), "ABOVE_OWN_SCOPE"),
        (staff("CENTER_STAFF", "3399"), "REGION_NOT_FOUND"),
        (staff("CENTER_STAFF", "33x"), "INVALID_REGION_CODE"),
        (staff("BOARD_HANDLER", "330802", boardId=huzhou_talent), "UNIT_OF_ANOTHER_REGION"),
        (staff("PROVINCE_MONITOR", "3308"), "ROLE_NEEDS_PROVINCE"),
    ]
    before = await audit_total(api)
    for binding, code in cases:
        out = await create(api, quzhou, username=unique("x"), displayName="x", binding=binding)
        assert [e["code"] for e in out["errors"]] == [code], (binding, out)
        assert out["account"] is None
    taken = await create(
        api, quzhou, username="admin", displayName="x", binding=staff("CENTER_STAFF", "3308")
    )
    assert [e["code"] for e in taken["errors"]] == ["USERNAME_TAKEN"]
    bad_code = await api.gql(
        REGISTER,
        {"input": {"creditCode": "91330802MA2XXXXXX1", "name": "x", "regionCode": "330802"}},
        as_=quzhou,
    )
    assert [e["code"] for e in bad_code["registerEnterprise"]["errors"]] == ["INVALID_CREDIT_CODE"]
    english = await api.post(
        REGISTER,
        {"input": {"creditCode": "x", "name": "x", "regionCode": "330802"}},
        as_=quzhou,
        headers={"Accept-Language": "en"},
    )
    message = english.json()["data"]["registerEnterprise"]["errors"][0]["message"]
    assert message.startswith("Invalid unified social credit code")
    # The last province admin cannot deactivate itself.
    me = await api.gql(
        '{ accounts(filter: {usernamePrefix: "admin", role: ADMIN}) { nodes { id username } } }',
        as_="admin",
    )
    admin_id = next(n["id"] for n in me["accounts"]["nodes"] if n["username"] == "admin")
    last = await api.gql(DEACTIVATE, {"input": {"id": admin_id}}, as_="admin")
    assert [e["code"] for e in last["deactivateAccount"]["errors"]] == ["LAST_PROVINCE_ADMIN"]
    # Someone who administers nothing is told so.
    denied = await create(
        api,
        "huzhou.center",
        username=unique("x"),
        displayName="x",
        binding=staff("CENTER_STAFF", "3305"),
    )
    assert [e["code"] for e in denied["errors"]] == ["PERMISSION_DENIED"]
    assert await audit_total(api) == before


async def test_updates_are_versioned_idempotent_and_audited(api: Api) -> None:
    quzhou = await city_admin(api)
    made = await create(
        api, quzhou, username=unique("qz"), displayName="甲", binding=staff("CENTER_STAFF", "3308")
    )
    account_id = made["account"]["id"]
    retry_key = key()
    change = {
        "id": account_id,
        "expectedVersion": 1,
        "displayName": "乙",
        "idempotencyKey": retry_key,
    }
    first = await api.gql(UPDATE, {"input": change}, as_=quzhou)
    again = await api.gql(UPDATE, {"input": change}, as_=quzhou)
    assert first == again
    assert first["updateAccount"]["account"]["version"] == 2
    stale = await api.gql(
        UPDATE, {"input": {"id": account_id, "expectedVersion": 1, "displayName": "丙"}}, as_=quzhou
    )
    assert [e["code"] for e in stale["updateAccount"]["errors"]] == ["VERSION_CONFLICT"]
    raised = await api.gql(
        UPDATE,
        {"input": {"id": account_id, "binding": staff("ADMIN", "3305")}},
        as_=quzhou,
    )
    assert [e["code"] for e in raised["updateAccount"]["errors"]] == ["ABOVE_OWN_SCOPE"]
    log = await api.gql(AUDIT, {"f": {"objectId": account_id}}, as_=quzhou)
    entries = log["auditLog"]["nodes"]
    assert [e["action"] for e in entries] == ["ACCOUNT_UPDATED", "ACCOUNT_CREATED"]
    assert entries[0]["actorName"] == quzhou
    assert (entries[0]["before"]["display_name"], entries[0]["after"]["display_name"]) == (
        "甲",
        "乙",
    )
    # The province monitor reads it too; a 湖州 admin does not.
    monitor = await api.gql(AUDIT, {"f": {"objectId": account_id}}, as_="province.monitor")
    assert monitor["auditLog"]["totalCount"] == 2
    huzhou = await city_admin(api, "3305")
    hidden = await api.gql(AUDIT, {"f": {"objectId": account_id}}, as_=huzhou)
    assert hidden["auditLog"] == {"totalCount": 0, "nodes": []}

    code = fresh_credit_code()
    ent = (
        await api.gql(
            REGISTER,
            {"input": {"creditCode": code, "name": "某公司", "regionCode": "3308"}},
            as_=quzhou,
        )
    )["registerEnterprise"]["enterprise"]
    changed = await api.gql(
        UPDATE_ENTERPRISE,
        {"input": {"id": ent["id"], "expectedVersion": 1, "contactPhone": "13800000000"}},
        as_=quzhou,
    )
    assert changed["updateEnterprise"]["enterprise"]["version"] == 2
    out_of_scope = await api.gql(
        UPDATE_ENTERPRISE, {"input": {"id": ent["id"], "name": "x"}}, as_=huzhou
    )
    assert [e["code"] for e in out_of_scope["updateEnterprise"]["errors"]] == ["NOT_FOUND"]


class TestAccountScope(ScopeVisibilityMixin):
    list_query = "{ accounts(first: 100) { nodes { id } } }"
    list_path = ("accounts",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        quzhou = await city_admin(api)
        huzhou = await city_admin(api, "3305")
        made = await create(
            api,
            quzhou,
            username=unique("qz"),
            displayName="x",
            binding=staff("CENTER_STAFF", "330802"),
        )
        account = made["account"]["id"]
        return [
            ScopeCase(account, quzhou, huzhou),
            ScopeCase(account, "admin", "huzhou.center"),
        ]


class TestEnterpriseListScope(ScopeVisibilityMixin):
    list_query = "{ enterprises(first: 100) { nodes { id } } }"
    list_path = ("enterprises",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        quzhou = await city_admin(api)
        huzhou = await city_admin(api, "3305")
        ent = await api.gql(
            REGISTER,
            {
                "input": {
                    "creditCode": fresh_credit_code(),
                    "name": "某公司",
                    "regionCode": "330802",
                }
            },
            as_=quzhou,
        )
        found = ent["registerEnterprise"]["enterprise"]["id"]
        return [ScopeCase(found, quzhou, huzhou), ScopeCase(found, "admin", "huzhou.center")]


class TestAuditEntryScope(ScopeVisibilityMixin):
    list_query = "{ auditLog(first: 100) { nodes { id } } }"
    list_path = ("auditLog",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        quzhou = await city_admin(api)
        huzhou = await city_admin(api, "3305")
        await create(
            api,
            quzhou,
            username=unique("qz"),
            displayName="x",
            binding=staff("CENTER_STAFF", "330802"),
        )
        entry = (await api.gql(AUDIT, as_=quzhou))["auditLog"]["nodes"][0]["id"]
        return [
            ScopeCase(entry, quzhou, huzhou),
            ScopeCase(entry, "province.monitor", "huzhou.center"),
        ]


ACCOUNT_PAGE = """query($first: Int!) { accounts(first: $first, filter: {regionWithin: "3307"}) {
  totalCount nodes { id username role region { name } board { name } department { name }
    enterprise { name } } } }"""
ENTERPRISE_PAGE = """query($first: Int!) { enterprises(first: $first,
  filter: {regionWithin: "3307"}) { totalCount nodes { id name creditCode region { name } } } }"""


async def _statements(api: Api, db: Database, query: str, first: int, who: str) -> int:
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    for _ in range(3):  # warm the account cache (see test_query_counts)
        await api.gql(query, {"first": first}, as_=who)
        if who in runtime.principals:
            break
    with counting(db) as statements:
        data = await api.gql(query, {"first": first}, as_=who)
    page = next(iter(data.values()))
    assert len(page["nodes"]) == first
    return len(statements)


async def test_account_and_enterprise_pages_cost_fixed_statements(api: Api, db: Database) -> None:
    jinhua = await city_admin(api, "3307")
    talent = await board_id(api, "330702", "TALENT", jinhua)
    for n in range(10):
        ent = await api.gql(
            REGISTER,
            {
                "input": {
                    "creditCode": fresh_credit_code("330702"),
                    "name": f"金华企业{n}",
                    "regionCode": "330702",
                }
            },
            as_=jinhua,
        )
        binding: dict[str, Any] = (
            staff("BOARD_HANDLER", "330702", boardId=talent)
            if n % 2
            else {
                "role": "ENTERPRISE",
                "enterpriseId": ent["registerEnterprise"]["enterprise"]["id"],
            }
        )
        out = await create(
            api, jinhua, username=unique("jh"), displayName=f"金华{n}", binding=binding
        )
        assert out["errors"] == []
    for query in (ACCOUNT_PAGE, ENTERPRISE_PAGE):
        small = await _statements(api, db, query, 2, jinhua)
        large = await _statements(api, db, query, 10, jinhua)
        assert small == large, query
        assert large <= 6, query


ADMINISTRATION_LISTS = """{
  accounts(first: 5, filter: {regionWithin: "3307"}) { totalCount nodes { id region { name } } }
  enterprises(first: 5, filter: {regionWithin: "3307"}) { totalCount nodes { id name } }
  auditLog(first: 5) { totalCount nodes { id action } } }"""


async def test_the_administration_lists_read_through_the_request_connection(
    api: Api, db: Database
) -> None:
    """The three lists of one request (and the loaders below them) share the request's one
    read transaction, like the issue lists: one connection from the pool, one BEGIN with the
    scope, one statement per page."""
    jinhua = await city_admin(api, "3307")
    for n in range(3):
        leader = staff("LEADER", "3307")
        made = await create(
            api, jinhua, username=unique("jh"), displayName=f"金华{n}", binding=leader
        )
        assert made["errors"] == []
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    for _ in range(3):  # the account and the regions remembered (see test_query_counts)
        await api.gql(ADMINISTRATION_LISTS, as_=jinhua)
        if jinhua in runtime.principals:
            break
    checkouts: list[object] = []

    def checkout(*args: object) -> None:
        checkouts.append(args)

    event.listen(db.engine.sync_engine, "checkout", checkout)
    try:
        with counting(db) as statements:
            data = await api.gql(ADMINISTRATION_LISTS, as_=jinhua)
    finally:
        event.remove(db.engine.sync_engine, "checkout", checkout)
    assert data["accounts"]["totalCount"] >= 4 and len(data["auditLog"]["nodes"]) >= 4
    assert len(checkouts) == 1
    assert len(statements) == 4, statements  # BEGIN and the scope, then the three pages
    assert "BEGIN" in statements[0] and all("total" in s for s in statements[1:])
