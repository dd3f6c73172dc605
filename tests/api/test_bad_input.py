"""Input that cannot be valid is a typed error naming its field, and nothing reaches
PostgreSQL: ids beyond their column, NUL characters, impossible datetimes, NaN and huge
decimals, region codes in other digits, text over its cap, lists over theirs."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closedloop.db.database import Database
from closedloop.domain.bounds import LIST_MAX, SEARCH_TEXT_MAX, TEXT_MAX
from tests.api.test_query_counts import counting
from tests.conftest import Api

MASKED = "Unexpected error"


def gid(type_name: str, key: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


ISSUES = "query($f: IssueFilterInput) { issues(filter: $f) { totalCount } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
REGION = "query($c: String!) { region(code: $c) { code } }"
SUBMIT = """mutation($i: SubmitIssueInput!) { submitIssue(input: $i) {
  issue { id } errors { code field } } }"""
ACCEPT = """mutation($i: AcceptIssueInput!) { acceptIssue(input: $i) {
  issue { id } errors { code field } } }"""
DRAW = """mutation($i: DrawCallbackSampleInput!) { drawCallbackSample(input: $i) {
  errors { message field } } }"""
RECORD = """mutation($i: RecordIndicatorInput!) { recordIndicator(input: $i) {
  errors { message field } } }"""
TOP_TAGS = 'query($t: DateTime) { topTags(region: "33", createdFrom: $t) { tag } }'
CASES = "query($t: String) { cases(text: $t) { totalCount } }"

ISSUE = {"title": "招工", "content": "缺少挡车工"}
INDICATOR = {"indicator": "X", "targetKind": "REGION", "regionCode": "330521", "period": "2026-03"}

# (name, query, variables, caller, error code, field or variable named)
CASES_TABLE: list[tuple[str, str, dict[str, Any], str, str, str]] = [
    ("text NUL", ISSUES, {"f": {"text": "a\x00b"}}, "admin", "INVALID_ARGUMENT", "filter.text"),
    (
        "text too long",
        ISSUES,
        {"f": {"text": "字" * (SEARCH_TEXT_MAX + 1)}},
        "admin",
        "INVALID_ARGUMENT",
        "filter.text",
    ),
    (
        "tag NUL",
        ISSUES,
        {"f": {"tagsAny": ["ok", "a\x00"]}},
        "admin",
        "INVALID_ARGUMENT",
        "filter.tagsAny.1",
    ),
    (
        "too many tags",
        ISSUES,
        {"f": {"tagsAll": ["t"] * (LIST_MAX + 1)}},
        "admin",
        "INVALID_ARGUMENT",
        "filter.tagsAll",
    ),
    (
        "region id NUL",
        ISSUES,
        {"f": {"holdingRegion": "33\x00"}},
        "admin",
        "INVALID_ARGUMENT",
        "filter.holdingRegion",
    ),
    (
        "datetime beyond UTC",
        ISSUES,
        {"f": {"createdFrom": "9999-12-31T23:59:59-23:59"}},
        "admin",
        "INVALID_ARGUMENT",
        "$f",
    ),
    (
        "datetime without offset",
        TOP_TAGS,
        {"t": "2026-01-01T00:00:00"},
        "admin",
        "INVALID_ARGUMENT",
        "$t",
    ),
    (
        "datetime year 0001",
        TOP_TAGS,
        {"t": "0001-01-01T00:00:00+14:00"},
        "admin",
        "INVALID_ARGUMENT",
        "$t",
    ),
    (
        "search text too long",
        CASES,
        {"t": "x" * (SEARCH_TEXT_MAX + 1)},
        "admin",
        "INVALID_ARGUMENT",
        "text",
    ),
    ("id too long", NODE, {"id": "x" * 500}, "admin", "INVALID_ARGUMENT", "id"),
    ("region fullwidth digits", REGION, {"c": "３３"}, "admin", "INVALID_REGION_CODE", "code"),
    ("region Arabic-Indic digits", REGION, {"c": "٣٣"}, "admin", "INVALID_REGION_CODE", "code"),
    ("region trailing newline", REGION, {"c": "3305\n"}, "admin", "INVALID_REGION_CODE", "code"),
    ("region NUL", REGION, {"c": "33\x00"}, "admin", "INVALID_ARGUMENT", "code"),
    (
        "name NUL",
        SUBMIT,
        {"i": {**ISSUE, "title": "t\x00"}},
        "ent.xinshi-silk",
        "INVALID_ARGUMENT",
        "input.title",
    ),
    (
        "content over its cap",
        SUBMIT,
        {"i": {**ISSUE, "content": "x" * (TEXT_MAX + 1)}},
        "ent.xinshi-silk",
        "INVALID_ARGUMENT",
        "input.content",
    ),
    (
        "tags NUL",
        SUBMIT,
        {"i": {**ISSUE, "tags": ["a\x00"]}},
        "ent.xinshi-silk",
        "INVALID_ARGUMENT",
        "input.tags.0",
    ),
    (
        "rate NaN",
        DRAW,
        {"i": {"region": "3305", "period": "2026-03", "rate": "NaN"}},
        "huzhou.center",
        "INVALID_ARGUMENT",
        "$i",
    ),
    (
        "rate Infinity",
        DRAW,
        {"i": {"region": "3305", "period": "2026-03", "rate": "-Infinity"}},
        "huzhou.center",
        "INVALID_ARGUMENT",
        "$i",
    ),
    (
        "points 1e999999999",
        RECORD,
        {"i": {**INDICATOR, "value": {"points": "1e999999999"}}},
        "huzhou.evaluator",
        "INVALID_ARGUMENT",
        "$i",
    ),
    (
        "points 12 places too many",
        RECORD,
        {"i": {**INDICATOR, "value": {"points": "0." + "1" * 13}}},
        "huzhou.evaluator",
        "INVALID_ARGUMENT",
        "$i",
    ),
]


def _errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    errors: list[dict[str, Any]] = body.get("errors") or []
    for error in errors:
        assert MASKED not in error["message"], body
    return errors


@pytest.mark.parametrize(
    ("query", "variables", "caller", "code", "named"),
    [case[1:] for case in CASES_TABLE],
    ids=[case[0] for case in CASES_TABLE],
)
async def test_impossible_input_is_a_typed_error_before_any_sql(
    api: Api,
    db: Database,
    query: str,
    variables: dict[str, Any],
    caller: str,
    code: str,
    named: str,
) -> None:
    await api.gql("{ viewer { displayName } }", as_=caller)  # the account is cached
    with counting(db) as statements:
        response = await api.post(query, variables, as_=caller)
    errors = _errors(response)
    assert len(errors) == 1, errors
    error = errors[0]
    assert error["extensions"]["code"] == code
    where = error["extensions"].get("field") or error["message"]
    assert named in where, error
    assert statements == []


@pytest.mark.parametrize(
    "literal",
    [
        '{ issues(filter: {text: "a\\u0000b"}) { totalCount } }',
        '{ cases(text: "%s") { totalCount } }' % ("x" * (SEARCH_TEXT_MAX + 1)),
        '{ issues(filter: {createdFrom: "9999-12-31T23:59:59-23:59"}) { totalCount } }',
        '{ topTags(region: "33", createdTo: "2026-13-01T00:00:00Z") { tag } }',
        'mutation { drawCallbackSample(input: {region: "3305", period: "2026-03", rate: "NaN"})'
        " { errors { field } } }",
    ],
)
async def test_impossible_literal_is_a_typed_error(api: Api, literal: str) -> None:
    errors = _errors(await api.post(literal, as_="huzhou.center"))
    assert errors and all(e["extensions"]["code"] == "INVALID_ARGUMENT" for e in errors), errors
    assert all(e.get("locations") for e in errors), errors


@pytest.mark.parametrize(
    ("global_id", "query"),
    [
        (gid("Issue", 2**63), NODE),
        (gid("Issue", 10**30), "query($id: ID!) { issue(id: $id) { id } }"),
        (gid("Department", 2**31), NODE),
        (gid("Board", "١٢"), NODE),  # Arabic-Indic digits
        (gid("Region", "33\x00"), NODE),
    ],
)
async def test_ids_that_cannot_exist_answer_like_missing_ones(
    api: Api, db: Database, global_id: str, query: str
) -> None:
    await api.gql("{ viewer { displayName } }", as_="admin")
    with counting(db) as statements:
        response = await api.post(query, {"id": global_id}, as_="admin")
    assert _errors(response) == []
    assert list(response.json()["data"].values()) == [None]
    assert statements == []


async def test_mutation_on_an_id_beyond_its_column_is_not_found(api: Api) -> None:
    response = await api.post(
        ACCEPT, {"i": {"id": gid("Issue", 2**64), "expectedVersion": 1}}, as_="xinshi.center"
    )
    assert _errors(response) == []
    assert response.json()["data"]["acceptIssue"]["errors"] == [
        {"code": "NOT_FOUND", "field": "id"}
    ]


async def test_forged_cursor_is_a_typed_paging_error(api: Api) -> None:
    for raw in ("9999-12-31T23:59:59-23:59|1", "2026-01-01T00:00:00+00:00|99999999999999999999"):
        cursor = base64.urlsafe_b64encode(f"c:{raw}".encode()).decode()
        response = await api.post(
            "query($a: String) { issues(after: $a) { totalCount } }", {"a": cursor}, as_="admin"
        )
        errors = _errors(response)
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_PAGING"], errors


async def test_values_just_inside_the_bounds_pass(api: Api) -> None:
    data = await api.gql(
        "query($f: IssueFilterInput) { issues(filter: $f) { totalCount } }",
        {
            "f": {
                "text": "字" * SEARCH_TEXT_MAX,
                "tagsAny": ["t"] * LIST_MAX,
                "createdFrom": "1900-01-01T00:00:00Z",
                "createdTo": "2999-12-31T23:59:59+00:00",
            }
        },
        as_="admin",
    )
    assert data["issues"]["totalCount"] == 0


# --- fuzzing through the API: whatever comes in, never a masked error or a 5xx ------------

texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", "\x00", "３３", "٣٣", "33\n", "33", "3305", "330521102", " 33", "x" * 250]
)
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e999999999", "-1e-999999999", "NaN", "sNaN", "0.2", "1", "abc", ""]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
datetimes = st.one_of(
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "garbage"]),
)
ids = st.one_of(
    st.builds(
        gid,
        st.sampled_from(["Issue", "Board", "Region", "Case", "X"]),
        st.integers(min_value=-1, max_value=2**70) | texts,
    ),
    texts,
)

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(text=texts, region=texts, tags=st.lists(texts, max_size=3), created=datetimes, eid=ids)
async def test_fuzzed_issue_filters_never_mask_an_error(
    api: Api, text: str, region: str, tags: list[str], created: str, eid: str
) -> None:
    variables = {
        "f": {
            "text": text,
            "originWithin": region,
            "tagsAll": tags,
            "createdTo": created,
            "enterpriseId": eid,
        }
    }
    _errors(await api.post(ISSUES, variables, as_="huzhou.center"))


@FUZZ
@given(rate=decimals, region=texts, period=texts, points=decimals, checks=texts)
async def test_fuzzed_evaluation_inputs_never_mask_an_error(
    api: Api, rate: str, region: str, period: str, points: str, checks: str
) -> None:
    draw = {"i": {"region": region, "period": period, "rate": rate}}
    _errors(await api.post(DRAW, draw, as_="huzhou.center"))
    record = {
        "i": {**INDICATOR, "regionCode": region, "period": period, "value": {"points": points}},
    }
    _errors(await api.post(RECORD, record, as_="huzhou.evaluator"))


@FUZZ
@given(
    title=texts,
    tags=st.lists(texts, max_size=3),
    region=texts,
    eid=ids,
    version=st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
async def test_fuzzed_issue_mutations_never_mask_an_error(
    api: Api, title: str, tags: list[str], region: str, eid: str, version: int
) -> None:
    submit = {
        "i": {
            **ISSUE,
            "title": title,
            "tags": tags,
            "channel": "HOTLINE_12345",
            "creditCode": "91330521MA2B3K4X5A",
            "enterpriseName": title,
            "enterpriseRegion": region,
            "idempotencyKey": title,
        }
    }
    _errors(await api.post(SUBMIT, submit, as_="deqing.center"))
    _errors(
        await api.post(ACCEPT, {"i": {"id": eid, "expectedVersion": version}}, as_="deqing.center")
    )
    _errors(await api.post(NODE, {"id": eid}, as_="deqing.center"))
