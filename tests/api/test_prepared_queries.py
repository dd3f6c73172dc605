"""Prepared queries answer over HTTP exactly as strawberry's view does: same status, same
headers that matter, same body byte for byte; and everything that is not a prepared query
still goes through strawberry."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import GraphQLApp
from closedloop.http.schema import MASKED_MESSAGE, build_schema
from closedloop.identity.accounts import principal_for
from closedloop.schema import issue_list
from closedloop.schema.context import Context
from closedloop.schema.execution.prepared import PreparedQueries
from closedloop.settings import Settings
from tests.api.test_compiled_execution import API_QUERIES, _issues_in_several_states
from tests.conftest import Api

POOL = "{ issues(filter: {pool: true}, first: 5) { totalCount nodes { id title light } } }"

# Requests beyond the compiled executor's list: errors before and during execution,
# operations that are not queries, and bodies the prepared path must hand on.
EXTRA: list[dict[str, Any]] = [
    {"query": "query($n: Int!) { issues(first: $n) { totalCount } }", "variables": {"n": "x"}},
    {"query": "query($n: Int!) { issues(first: $n) { totalCount } }"},  # missing variable
    {"query": "{ issues { totalCount nope } }"},  # validation error
    {"query": "{ issues(first: 1) { totalCount "},  # syntax error
    {"query": "query A { viewer { username } } query B { labels { enum } }"},  # which one?
    {"query": "query A { viewer { username } } query B { labels { enum } }", "operationName": "B"},
    {"query": "query A { viewer { username } }", "operationName": "C"},
    {"query": "{ viewer { username } }", "variables": None, "operationName": None},
    {"query": "{ viewer { username } }", "extensions": {"persistedQuery": {}}},
    {"query": 'mutation { urgeIssue(input: {issueId: "x"}) { errors { code } } }'},
    {"query": "subscription { issueChanged { id } }"},
    {"query": "{ a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }"},
    {"query": 42},
    {"variables": {}},
    {"query": "{ viewer { username } }", "variables": [1]},
    {"query": "{ viewer { username } }", "unexpected": True},
    [{"query": "{ viewer { username } }"}],
]


def _graphql_view(app: Starlette) -> GraphQLApp:
    for route in app.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            view = route.endpoint
            assert isinstance(view, GraphQLApp)
            return view
    raise AssertionError("no /graphql route")


async def _answers(api: Api, body: Any, username: str, locale: str) -> tuple[Any, ...]:
    response = await api.client.post(
        "/graphql",
        content=httpx.Request("POST", "/", json=body).content,
        headers={
            "Authorization": f"Bearer {api.token(username)}",
            "Content-Type": "application/json",
            "Accept-Language": locale,
            "X-Request-ID": "same-on-both-paths",
        },
    )
    return response.status_code, response.headers.multi_items(), response.content


@pytest.mark.usefixtures("clean_issues")
async def test_prepared_queries_answer_as_strawberry_does(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _issues_in_several_states(api)
    view = _graphql_view(app)
    prepared = view.schema.prepared  # type: ignore[attr-defined]
    assert isinstance(prepared, PreparedQueries)
    bodies: list[Any] = [
        {"query": query, "variables": variables} for query, variables in API_QUERIES
    ] + EXTRA
    runs: list[str] = []
    real_execute = PreparedQueries.execute

    async def counted(self: PreparedQueries, *args: Any) -> Any:
        runs.append("prepared")
        return await real_execute(self, *args)

    monkeypatch.setattr(PreparedQueries, "execute", counted)
    compared = 0
    for username in ("xinshi.center", "ent.xinshi-silk", "province.monitor"):
        for locale in ("zh-CN", "en"):
            for body in bodies:
                fast = await _answers(api, body, username, locale)
                monkeypatch.setattr(view.schema, "prepared", None)
                plain = await _answers(api, body, username, locale)
                monkeypatch.setattr(view.schema, "prepared", prepared)
                assert fast == plain, (username, locale, body)
                compared += 1
    assert compared == 3 * 2 * len(bodies)
    # The prepared path did run: every query of the compiled executor's list and the
    # few valid queries among the extras, for every account and locale.
    assert len(runs) >= 3 * 2 * (len(API_QUERIES) + 4)


async def _on_both_paths(
    api: Api,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    body: dict[str, Any],
    after_each: Callable[[], None] = lambda: None,
) -> list[tuple[Any, ...]]:
    """The answer of the prepared path, then strawberry's, to one request; ``after_each``
    runs after each answer."""
    view = _graphql_view(app)
    prepared = view.schema.prepared  # type: ignore[attr-defined]
    answers = []
    for prepared_or_not in (prepared, None):
        monkeypatch.setattr(view.schema, "prepared", prepared_or_not)
        answers.append(await _answers(api, body, "xinshi.center", "en"))
        after_each()
    monkeypatch.setattr(view.schema, "prepared", prepared)
    return answers


async def test_unexpected_errors_are_logged_and_masked_on_both_paths(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(info: Any, id: str) -> None:
        raise RuntimeError("database exploded at 10.0.0.7")

    def logged_as_raised() -> None:
        assert "database exploded" in caplog.text
        caplog.clear()

    monkeypatch.setattr(issue_list, "issue", broken)
    body = {"query": '{ issue(id: "SXNzdWU6MQ") { id } viewer { username } }'}
    answers = await _on_both_paths(api, app, monkeypatch, body, logged_as_raised)
    assert answers[0] == answers[1]
    status, _, content = answers[0]
    assert status == 200
    assert MASKED_MESSAGE.encode() in content
    assert b"exploded" not in content
    assert b'"username":"xinshi.center"' in content


async def test_a_status_or_header_set_by_a_resolver_is_sent_on_both_paths(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def noting(info: Any, id: str) -> None:
        info.context.response.headers["x-closedloop-note"] = "seen"
        info.context.response.status_code = 203

    monkeypatch.setattr(issue_list, "issue", noting)
    body = {"query": '{ issue(id: "SXNzdWU6MQ") { id } }'}
    answers = await _on_both_paths(api, app, monkeypatch, body)
    assert answers[0] == answers[1]
    status, headers, _ = answers[0]
    assert status == 203
    assert ("x-closedloop-note", "seen") in headers


async def test_what_is_prepared(settings: Settings) -> None:
    schema = build_schema(settings)
    prepared = schema.prepared
    document = prepared.document(POOL, None)
    assert document is not None
    assert prepared.document(POOL, None) is document  # parsed once
    assert prepared.document("{ viewer { nope } }", None) is None  # invalid
    assert prepared.document("{ viewer", None) is None  # does not parse
    assert prepared.document("mutation { __typename }", None) is None  # not a query
    assert prepared.document("query A { __typename }", "B") is None  # no such operation
    # Each limit alone rejects its query: with that limit raised, the same text is prepared.
    depth = settings.max_query_depth
    deep = "{ viewer { region { " + "parent { " * depth + "code" + " }" * (depth + 3)
    many = "{ " + " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1)) + " }"
    # (a long list in a variable's default: a literal list that long is over the list bound)
    long = (
        "query($e: [String!] = [" + '"Light" ' * settings.max_tokens + "]) "
        "{ labels(enums: $e) { enum } }"
    )
    for query, limit in ((deep, "max_query_depth"), (many, "max_aliases"), (long, "max_tokens")):
        assert prepared.document(query, None) is None, limit
        raised = build_schema(settings.model_copy(update={limit: 100_000}))
        assert raised.prepared.document(query, None) is not None, limit
    closed = build_schema(settings.model_copy(update={"introspection": False}))
    assert closed.prepared.document("{ __schema { queryType { name } } }", None) is None
    assert schema.prepared.document("{ __schema { queryType { name } } }", None) is not None


@pytest.mark.usefixtures("clean_issues")
async def test_a_page_leaves_nothing_for_the_garbage_collector(
    api: Api, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Everything a request builds (context, loaders, the page's records and objects) is
    freed when the answer is done, not kept by a reference cycle until a collection."""
    await _issues_in_several_states(api)
    schema = build_schema(settings)
    async with db.read_reference() as conn:
        principal = await principal_for(conn, "xinshi.center")
    assert principal is not None
    document = schema.prepared.document(POOL, None)
    assert document is not None

    async def page() -> None:
        context = Context(principal, db, clock, settings, "zh-CN")
        result = await schema.prepared.execute(POOL, None, None, context)
        assert not result.errors and result.data and result.data["issues"]["nodes"]

    await page()  # compiles the plan, fills the caches
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            await page()
        gc.set_debug(gc.DEBUG_SAVEALL)
        found = gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert found == 0, sorted(set(left))


async def test_every_request_runs_every_schema_extension(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema extension added to the schema runs for a prepared query (the HTTP fast
    path), for the same query through strawberry's view, for a mutation, and for a query
    refused by a limit."""
    from strawberry.extensions import SchemaExtension

    seen: list[str] = []

    class Counting(SchemaExtension):
        def on_execute(self) -> Any:
            seen.append(self.execution_context.query or "")
            yield

        def on_operation(self) -> Any:
            seen.append("operation")
            yield

    view = _graphql_view(app)
    monkeypatch.setattr(view.schema, "extensions", [*view.schema.extensions, Counting])
    runs: list[str] = []
    real_execute = PreparedQueries.execute

    async def counted(self: PreparedQueries, *args: Any) -> Any:
        runs.append("prepared")
        return await real_execute(self, *args)

    monkeypatch.setattr(PreparedQueries, "execute", counted)
    answers = await _on_both_paths(api, app, monkeypatch, {"query": POOL})
    assert answers[0] == answers[1]
    assert runs == ["prepared"]  # the first went the fast path, the second did not
    assert seen == ["operation", POOL] * 2
    seen.clear()
    await _answers(
        api,
        {
            "query": 'mutation { urgeIssue(input: {id: "x", expectedVersion: 1}) '
            "{ errors { code } } }"
        },
        "xinshi.center",
        "en",
    )
    assert seen[0] == "operation" and len(seen) == 2
    seen.clear()
    deep = "{ issues(first: 2) { nodes { custody { region { parent { parent { name } } } } } } }"
    await _answers(api, {"query": deep}, "xinshi.center", "en")
    assert seen == ["operation"]  # refused at validation: no execution
