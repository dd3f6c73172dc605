"""A page of issues reads only the columns its selection needs (``ISSUE_FIELD_COLUMNS``,
``page_issues(columns=)``). Every field of ``Issue``, asked alone through a page, answers
as it does through ``issue(id)``, which reads whole rows: a column missing from the map
would make the page's answer an error or differ."""

from __future__ import annotations

import re

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLType,
)

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.http.schema import build_schema
from closedloop.schema.issues import ISSUE_FIELD_COLUMNS
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit, unit_id
from tests.api.test_compiled_execution import _issues_in_several_states
from tests.api.test_query_counts import counting
from tests.conftest import Api


def _unwrap(kind: GraphQLType) -> GraphQLType:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def _leaf(kind: GraphQLType) -> bool:
    return isinstance(_unwrap(kind), GraphQLScalarType | GraphQLEnumType)


def _selection(field: GraphQLField) -> str:
    """The field's sub-selection: every leaf field of its object type that takes no required
    argument (empty for a leaf)."""
    kind = _unwrap(field.type)
    if not isinstance(kind, GraphQLObjectType):
        return ""
    leaves = [
        name
        for name, sub in kind.fields.items()
        if _leaf(sub.type)
        and not any(isinstance(a.type, GraphQLNonNull) for a in sub.args.values())
    ]
    return "{ " + " ".join(leaves) + " }"


def _issue_fields(settings: Settings) -> dict[str, str]:
    issue = build_schema(settings)._schema.get_type("Issue")
    assert isinstance(issue, GraphQLObjectType)
    return {name: _selection(field) for name, field in issue.fields.items()}


def test_every_issue_field_declares_its_columns(settings: Settings) -> None:
    assert set(_issue_fields(settings)) <= set(ISSUE_FIELD_COLUMNS)


async def _more_states(api: Api) -> None:
    """Beyond the differential set: one issue resolved, rated and closed, one escalated to
    the county (a rating, a reply, custody at two tiers)."""
    await _issues_in_several_states(api)
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    done = await step(api, "acceptIssue", await submit(api, title="办结件"), "xinshi.center")
    done = await step(api, "assignIssue", done, "xinshi.center", boardId=talent)
    done = await step(api, "startIssue", done, "xinshi.talent")
    done = await step(api, "resolveIssue", done, "xinshi.talent", reply="已办结")
    await step(api, "rateIssue", done, "ent.xinshi-silk", grade="SATISFIED")
    up = await step(api, "acceptIssue", await submit(api, title="上报件"), "xinshi.center")
    await step(api, "escalateIssue", up, "xinshi.center", reason="镇级无法协调")


@pytest.mark.usefixtures("clean_issues")
@pytest.mark.parametrize(
    ("username", "page"),
    [
        ("xinshi.center", "issues(filter: {pool: true}, first: 20)"),
        ("xinshi.center", "issues(first: 20, orderBy: DUE_AT_ASC)"),
        ("ent.xinshi-silk", "issues(first: 20, orderBy: UPDATED_AT_DESC)"),
    ],
)
async def test_each_field_through_a_page_answers_as_through_issue(
    api: Api, settings: Settings, username: str, page: str
) -> None:
    await _more_states(api)
    listed_ids = await api.gql(f"{{ {page} {{ nodes {{ id }} }} }}", as_=username)
    ids = [node["id"] for node in listed_ids["issues"]["nodes"]]
    assert len(ids) >= 5
    for name, sub in _issue_fields(settings).items():
        listed = await api.gql(
            f"{{ {page} {{ edges {{ cursor node {{ {name} {sub} }} }} }} }}", as_=username
        )
        one_by_one = await api.gql(
            "{ "
            + " ".join(f'i{n}: issue(id: "{i}") {{ {name} {sub} }}' for n, i in enumerate(ids))
            + " }",
            as_=username,
        )
        assert [e["node"] for e in listed["issues"]["edges"]] == [
            one_by_one[f"i{n}"] for n in range(len(ids))
        ], name


@pytest.mark.usefixtures("clean_issues")
async def test_fields_under_directives_and_fragments_are_read(api: Api) -> None:
    """The page's columns are remembered per document: a field under ``@include`` counts
    whatever the variable says this time, and fragments count like the fields they hold."""
    await _issues_in_several_states(api)
    query = """query($more: Boolean!) { issues(first: 5) { nodes { id
      ... on Issue @include(if: $more) { content light }
      ...Where } } }
      fragment Where on Issue { holdingRegion { code } viewerActions }"""
    for more in (False, True, False):
        data = await api.gql(query, {"more": more}, as_="xinshi.center")
        nodes = data["issues"]["nodes"]
        assert len(nodes) == 5 and all(n["holdingRegion"]["code"] for n in nodes)
        assert all(("content" in n) is more for n in nodes)


def _page_columns(statements: list[str]) -> set[str]:
    """The issue columns the page statement's inner SELECT reads."""
    page = next(s for s in statements if "AS total_count" in s)
    start = page.index("FROM (SELECT")  # the count's subquery comes before it
    inner = page[start : page.index("FROM issue \nWHERE", start)]
    return set(re.findall(r"issue\.(\w+) AS \1\b", inner))


@pytest.mark.usefixtures("clean_issues")
async def test_a_page_reads_only_what_its_fields_need(api: Api, db: Database) -> None:
    await _issues_in_several_states(api)
    always = {"id", "created_at"}  # the order's column: cursors and keyset paging
    cases = {
        "id title": always | {"title"},
        "light enterprise { name }": always | {"clock_kind", "warn_at", "due_at", "enterprise_id"},
        "__typename": always,
    }
    for fields, expected in cases.items():
        with counting(db) as statements:
            await api.gql(f"{{ issues(first: 5) {{ nodes {{ {fields} }} }} }}", as_="xinshi.center")
        assert _page_columns(statements) == expected, fields
    # Fields that want whole records from the issue loader make the page read whole rows
    # and prime it: the candidates cost no second read of the listed issues.
    whole = {c.name for c in t.issue.c}
    query = "{ issues(first: 5) { nodes { id duplicateCandidates { score } } } }"
    with counting(db) as statements:
        await api.gql(query, as_="xinshi.center")
    assert _page_columns(statements) == whole
    # One read of issues by id: the candidates' own; the listed issues come primed.
    assert len([s for s in statements if "WHERE issue.id = ANY (" in s]) == 1, statements
