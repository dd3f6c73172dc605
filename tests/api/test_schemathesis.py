"""Schemathesis over the served schema: every query and mutation of the introspected schema,
with arguments generated from their types (hypothesis-graphql), against a real server
(uvicorn in a subprocess) on a database of its own (migrated, demo data). Whatever it
sends: no 5xx and never the masked "Unexpected error". Bounded: ``MAX_EXAMPLES`` per
operation (4), signed in as a county center (queries and mutations both reach resolvers)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from bench.served import prepare_demo, scratch_database
from bench.served import served as serve
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings

MAX_EXAMPLES = 4
SECRET = "schemathesis-" + "s" * 40
MASKED = "Unexpected error"


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[str]:
    """A server on a scratch database of the test server; its base URL."""
    with scratch_database(database_url, "closedloop_fuzz") as url:
        asyncio.run(prepare_demo(url))
        with serve(url, SECRET, {"CLOSEDLOOP_ENVIRONMENT": "test"}) as server:
            yield server.url


def _token() -> str:
    return mint_token(Settings(jwt_secret=SECRET), "deqing.center")


@pytest.fixture(scope="module")
def graphql_schema(served: str) -> Any:
    return schemathesis.graphql.from_url(
        f"{served}/graphql", headers={"Authorization": f"Bearer {_token()}"}, timeout=30
    )


# The API's own scalars: well-formed values and values outside their bounds alike.
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(timezones=st.just(dt.UTC) | st.none()).map(lambda d: d.isoformat()),
        st.sampled_from(["9999-12-31T23:59:59-23:59", "2026-03-02T09:00:00+08:00", "x"]),
    ).map(nodes.String),
)
schemathesis.graphql.scalar("Date", st.dates().map(lambda d: d.isoformat()).map(nodes.String))
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(["1e999999999", "0.2", "-1"]),
    ).map(nodes.String),
)
schemathesis.graphql.scalar("JSON", st.just(nodes.String("{}")))


def test_no_server_error_and_no_masked_error(graphql_schema: Any) -> None:
    """Each operation in turn (schemathesis' pytest plugin does not run under this pytest:
    the operations' strategies are driven by hypothesis here instead)."""
    headers = {"Authorization": f"Bearer {_token()}"}
    operations = [result.ok() for result in graphql_schema.get_all_operations()]
    assert len(operations) > 40  # every root query and mutation field
    calls = 0

    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers, timeout=30)
            assert response.status_code < 500, (case.body, response.text[:500])
            assert MASKED not in response.text, (case.body, response.text[:500])

        check()
    assert calls >= 2 * len(operations)
