"""The mixed workload (bench/mixed.py) against the real API: a connection's write chain walks
an issue from submission to the county, its list requests answer, and only processes that
catch SIGUSR1 are ever sent it (any other would die of it)."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal

import pytest

from bench import mixed_ops as ops
from bench.mixed import _chain_step, _poster, caching_pids
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

WRITE = {"account": "ent.xinshi-silk", "center": "xinshi.center", "county": "330521"}


async def test_a_write_chain_takes_an_issue_to_the_county(api: Api) -> None:
    tokens = {a: api.token(a) for a in ("ent.xinshi-silk", "xinshi.center", "deqing.center")}
    post = _poster(api.client, tokens)
    chain: dict[str, object] = {}
    rng = random.Random(1)
    steps = [await _chain_step(post, chain, rng, [("ent.xinshi-silk", WRITE)]) for _ in range(4)]
    assert steps == list(ops.WRITE_STEPS)
    assert chain == {}, "the chain starts afresh after the escalation"
    pool = await post(
        "deqing.center",
        await ops.render(
            post,
            "closedloop",
            "pool_first",
            {"account": "deqing.center", "filter": "pool"},
            dt.datetime.now(),
        ),
    )
    nodes = pool["issues"]["nodes"]
    assert [n["state"] for n in nodes] == ["ACCEPTED"]
    assert pool["issues"]["totalCount"] == 1
    detail = await post(
        "deqing.center",
        await ops.render(
            post,
            "closedloop",
            "issue_detail",
            {"issue": ops.issue_row_id(nodes[0]["id"])},
            dt.datetime.now(),
        ),
    )
    timeline = [e["type"] for e in detail["issue"]["timeline"]]
    assert timeline[0] == "SUBMITTED" and len(timeline) >= 4


def test_only_processes_catching_sigusr1_are_signalled() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    try:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        assert os.getpid() not in caching_pids(os.getpid())
        signal.signal(signal.SIGUSR1, lambda *_: None)
        assert os.getpid() in caching_pids(os.getpid())
    finally:
        signal.signal(signal.SIGUSR1, before)
