"""The harness's workflow flow drives the real API: every step of an issue's life answers
without errors, each one timed as a request; a refused step is counted and ends the chain."""

from __future__ import annotations

import pytest

from bench.harness import (
    WORKFLOW_ACCOUNTS,
    FlowError,
    Shard,
    _sender,
    _workflow_params,
    workflow,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")


async def test_workflow_flow_walks_an_issue_to_closed(api: Api) -> None:
    tokens = {a: api.token(a) for a in WORKFLOW_ACCOUNTS}
    params = (await _workflow_params(api.client, tokens["xinshi.center"]))[0]
    shard = Shard()
    await workflow(_sender(api.client, tokens, shard), params)
    assert (len(shard.latencies), shard.errors) == (7, 0)
    listed = await api.gql(
        "{ issues(first: 5) { totalCount nodes { state rating } } }", as_="ent.xinshi-silk"
    )
    assert listed["issues"]["totalCount"] == 1
    assert listed["issues"]["nodes"] == [{"state": "CLOSED", "rating": "SATISFIED"}]


async def test_a_refused_step_is_counted_and_ends_the_chain(api: Api) -> None:
    tokens = {a: api.token(a) for a in WORKFLOW_ACCOUNTS}
    shard = Shard()
    with pytest.raises(FlowError):
        # A board that does not exist: the assignment is refused with a typed error.
        await workflow(_sender(api.client, tokens, shard), {"boardId": "Qm9hcmQ6OTk5OTk5"})
    assert (len(shard.latencies), shard.errors) == (3, 1)
    assert shard.first_error is not None and shard.first_error.startswith("assignIssue")
