"""Limits on a request's shape, checked before any SQL runs: each one refuses a request just
over it with a typed error and no SQL statement, and lets one just under it through; every
list of objects is paginated or bounded; the cost is reported on every accepted answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type, get_nullable_type, is_composite_type
from graphql import is_list_type as is_list

from closedloop.db.database import SQL_STATEMENTS, Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.schema import build_schema
from closedloop.identity.tokens import mint_token
from closedloop.schema.relay import to_global_id
from closedloop.schema.shape import LIST_BOUNDS, cost_plan, is_connection
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit, unit_id
from tests.api.test_rate_limits import app_client
from tests.conftest import Api

REGION_CYCLE = """{ regions(first: 100, level: COUNTY) { nodes { children { parent { children {
  parent { children { code } } } } } } } }"""
POOL = """{ issues(filter: {pool: true}, first: 50) { totalCount nodes { id number title
  state light dueAt enterprise { name creditCode } board { name } department { name }
  holdingRegion { name } lastEvent { type occurredAt actorName } } } }"""
# The pool page with every issue's timeline and custody and their regions (depth 6).
POOL_NESTED = """{ issues(filter: {pool: true}, first: 50) { totalCount nodes { id title
  timeline { type occurredAt } custody { handlingLevel region { name parent { name } } }
  holdingRegion { name parent { code } } } } }"""


def _statements() -> float:
    return float(SQL_STATEMENTS._value.get())


async def _post(api: Api, body: Any, *, as_: str = "xinshi.center") -> tuple[int, Any, float]:
    """Status, JSON body and SQL statements sent for one request (the caller's account is
    looked up beforehand, so that the count is the request's own)."""
    headers = {"Authorization": f"Bearer {api.token(as_)}"}
    await api.client.post("/graphql", json={"query": "{ viewer { username } }"}, headers=headers)
    before = _statements()
    response = await api.client.post("/graphql", json=body, headers=headers)
    return response.status_code, response.json(), _statements() - before


async def _refused(api: Api, query: str, code: str, **variables: Any) -> dict[str, Any]:
    status, body, statements = await _post(api, {"query": query, "variables": variables})
    assert status == 200, body
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    assert statements == 0
    error: dict[str, Any] = body["errors"][0]
    return error


async def _accepted(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    status, body, _ = await _post(api, {"query": query, "variables": variables})
    assert status == 200 and "errors" not in body, body
    assert body["extensions"]["cost"]["requested"] >= 1
    return body


def test_every_list_of_objects_is_paginated_or_bounded() -> None:
    schema = build_schema(Settings())._schema
    unbounded = []
    for type_name, named in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name, field in named.fields.items():
            nullable = get_nullable_type(field.type)  # type: ignore[arg-type]
            if not (is_list(nullable) and is_composite_type(get_named_type(field.type))):
                continue
            paged = "first" in field.args or "ids" in field.args
            in_connection = is_connection(named) and field_name in ("nodes", "edges")
            if not (paged or in_connection or (type_name, field_name) in LIST_BOUNDS):
                unbounded.append(f"{type_name}.{field_name}")
    assert unbounded == []


def test_cost_multiplies_page_and_list_sizes_through_nesting() -> None:
    from graphql import parse

    schema = build_schema(Settings())._schema

    def cost(query: str, variables: dict[str, Any] | None = None) -> int:
        plan = cost_plan(schema, parse(query), None)
        assert plan is not None
        return plan.cost(variables)

    # 1 connection + 50 issues + 5 related objects each.
    assert cost(POOL) == 1 + 50 + 5 * 50
    assert cost("{ issues(first: 3) { edges { node { id board { name } } } } }") == 1 + 3 + 3 + 3
    assert cost("query($n: Int) { issues(first: $n) { nodes { id } } }", {"n": 7}) == 8
    assert cost("query($n: Int = 9) { issues(first: $n) { nodes { id } } }") == 10
    assert cost("{ issues { nodes { id } } }") == 1 + 20  # the argument's default
    children = LIST_BOUNDS[("Region", "children")]
    assert cost('{ region(code: "33") { children { children { code } } } }') == (
        1 + children + children * children
    )
    assert cost(REGION_CYCLE) > 100 * children**3
    assert cost('{ nodes(ids: ["a", "b", "c"]) { id } }') == 3
    assert cost("{ viewer { username } labels { enum } }") == 1 + LIST_BOUNDS[("Query", "labels")]


async def test_depth_limit(api: Api) -> None:
    assert Settings().max_query_depth == 6
    six = "{ issues(first: 2) { nodes { custody { region { parent { name } } } } } }"
    seven = "{ issues(first: 2) { nodes { custody { region { parent { parent { name } } } } } } }"
    await _accepted(api, six)
    error = await _refused(api, seven, "QUERY_TOO_DEEP")
    assert error["extensions"]["depth"] == 7


@pytest.mark.usefixtures("clean_issues")
async def test_the_portal_queries_fit_every_limit(api: Api) -> None:
    """The pool page, the pool page with every issue's timeline, custody and regions, and
    the dashboard all pass the default limits."""
    pool = await _accepted(api, POOL)
    assert pool["extensions"]["cost"]["requested"] == 301
    await _accepted(api, POOL_NESTED)
    from bench.harness import DASHBOARD, ISSUE_WITH_TIMELINE

    await _accepted(api, DASHBOARD, region="330521", period="2026-03")
    await _accepted(api, ISSUE_WITH_TIMELINE, id=to_global_id("Issue", 1))


async def test_alias_limit(api: Api) -> None:
    assert Settings().max_aliases == 15

    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: viewer {{ username }}" for i in range(n)) + " }"

    await _accepted(api, aliased(15))
    error = await _refused(api, aliased(16), "TOO_MANY_ALIASES")
    assert error["extensions"]["aliases"] == 16


async def test_directive_limit(api: Api) -> None:
    assert Settings().max_directives == 50

    def directed(n: int) -> str:
        return "{ viewer { " + "username @include(if: true) " * n + "} }"

    await _accepted(api, directed(50))
    await _refused(api, directed(51), "TOO_MANY_DIRECTIVES")


async def test_token_limit(api: Api) -> None:
    assert Settings().max_tokens == 1000

    def tokens(n: int) -> str:
        # 11 tokens around the spreads (and the end): { viewer { ... } } fragment F on
        # Viewer { username }; two per spread, the odd one a field. (A literal list that
        # long is refused by the list bound of closedloop.domain.bounds first.)
        spreads, odd = divmod(n - 12, 2)
        inner = "...F " * spreads + "username " * odd
        return "{ viewer { " + inner + "} } fragment F on Viewer { username }"

    await _accepted(api, tokens(1000))
    error = await _refused(api, tokens(1001), "TOO_MANY_TOKENS")
    assert error["extensions"]["maxTokens"] == 1000


async def test_cost_limit_refuses_the_region_cycle_with_its_cost(api: Api) -> None:
    # The issue's query is refused by its depth already; the same cycle within the depth
    # limit by its cost.
    await _refused(api, REGION_CYCLE, "QUERY_TOO_DEEP")
    cycle = "{ regions(first: 100) { nodes { children { parent { children { code } } } } } }"
    error = await _refused(api, cycle, "QUERY_TOO_COSTLY")
    assert error["extensions"]["cost"] == 1 + 100 + 2 * 100 * 100 + 100 * 100 * 100
    assert error["extensions"]["maxCost"] == 50_000
    # Just under: every county's children (1 + 100 + 100 x 100).
    body = await _accepted(api, "{ regions(first: 100) { nodes { code children { code } } } }")
    assert body["extensions"]["cost"] == {"requested": 10_101, "maximum": 50_000}


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_a_page_size_out_of_range_is_refused_not_clamped(api: Api, first: int) -> None:
    for query in (
        "query($n: Int) { issues(first: $n) { totalCount } }",
        "query($n: Int) { regions(first: $n) { totalCount } }",
        'query($n: Int!) { topTags(region: "330521", first: $n) { tag } }',
        "query($n: Int!) { issues(first: 1) { nodes {"
        " duplicateCandidates(first: $n) { score } } } }",
    ):
        error = await _refused(api, query, "INVALID_PAGING", n=first)
        assert "between 1 and 100" in error["message"]
    literal = f"{{ issues(first: {first}) {{ totalCount }} }}"
    await _refused(api, literal, "INVALID_PAGING")


async def test_page_sizes_at_the_bounds_pass(api: Api) -> None:
    for first in (1, 100):
        await _accepted(api, "query($n: Int) { issues(first: $n) { totalCount } }", n=first)
        await _accepted(
            api, 'query($n: Int!) { topTags(region: "330521", first: $n) { tag } }', n=first
        )


async def test_nodes_takes_at_most_100_ids(api: Api) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    ids = [to_global_id("Region", "330521")] * 100
    body = await _accepted(api, query, ids=ids)
    assert len(body["data"]["nodes"]) == 100
    error = await _refused(api, query, "INVALID_PAGING", ids=[*ids, ids[0]])
    assert "at most 100 ids, got 101" in error["message"]


# --- the body cap ---------------------------------------------------------------------------


@pytest.fixture
async def capped(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    small = settings.model_copy(update={"max_body_bytes": 2_000})
    async with app_client(small, db, clock) as client:
        yield Api(client, small)


async def test_a_body_over_the_cap_is_refused_with_413_and_no_sql(capped: Api) -> None:
    token = mint_token(capped.settings, "xinshi.center")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = '{"query": "{ viewer { username } }"'
    under = start + " " * (1_999 - len(start) - 1) + "}"
    assert len(under) == 1_999
    ok = await capped.client.post("/graphql", content=under, headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["viewer"]["username"] == "xinshi.center"
    before = _statements()
    over = await capped.client.post("/graphql", content=under + " " * 2, headers=headers)
    assert over.status_code == 413
    assert over.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"

    # Without Content-Length (chunked): counted as it arrives, refused past the cap.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # 10 MB offered; reading stops after the cap
            yield b" " * 1_000

    streamed = await capped.client.post("/graphql", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert _statements() == before


@pytest.mark.usefixtures("clean_issues")
async def test_timeline_and_custody_are_paged(api: Api) -> None:
    issue = await submit(api, title="分页测试")
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    query = """query($id: ID!, $n: Int, $after: ID, $at: Int) { issue(id: $id) {
      all: timeline { id type } page: timeline(first: $n, after: $after) { id type }
      ledger: custody { position handlingLevel }
      rest: custody(first: $n, after: $at) { position handlingLevel } } }"""
    everything = (await _accepted(api, query, id=issue["id"]))["data"]["issue"]
    events, ledger = everything["all"], everything["ledger"]
    assert [e["type"] for e in events] == ["SUBMITTED", "ACCEPTED", "ASSIGNED"]
    assert [c["position"] for c in ledger] == list(range(1, len(ledger) + 1))
    assert len(ledger) >= 2
    pages: list[list[str]] = []
    after = None
    while True:
        got = await _accepted(api, query, id=issue["id"], n=1, after=after)
        page = got["data"]["issue"]["page"]
        if not page:
            break
        pages.append([e["type"] for e in page])
        after = page[-1]["id"]
    assert pages == [["SUBMITTED"], ["ACCEPTED"], ["ASSIGNED"]]
    rest = await _accepted(api, query, id=issue["id"], n=100, at=1)
    assert rest["data"]["issue"]["rest"] == ledger[1:]
    _, body, _ = await _post(
        api, {"query": query, "variables": {"id": issue["id"], "after": "999999999"}}
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_PAGING"
    assert body["errors"][0]["extensions"]["field"] == "after"
    await _refused(api, query, "INVALID_PAGING", id=issue["id"], n=101)
