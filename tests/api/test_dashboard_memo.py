"""A kept dashboard's completed fields (closedloop.schema.execution.memo): every query shape
gets the bytes it would get without them, one scope or locale never sees another's, and a
write shows at once."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.schema.evaluation import dashboard as dashboard_types
from closedloop.schema.execution import executor, memo
from closedloop.services.evaluation import dashboard as dashboard_service
from tests.api.evaluation_helpers import (
    bj,
    clean_evaluation,  # noqa: F401  (fixture)
    insert_issues,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

NOW = bj(2026, 3, 20, 12)
F = """fragment F on DashboardFigures { total open merged yellowLights redLights
  resolutionRate satisfactionRate proactiveRate goodRatings }"""

SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # The harness's cockpit: variables and a named fragment.
    "cockpit": (
        """query($region: String!, $period: String!) { dashboard(region: $region,
        period: $period) { asOf totals { ...F } local { ...F } children { region { code name }
        figures { ...F } } byState { state count label } byTier { tier label figures { ...F } }
        boards { key name figures { ...F } } departments { key name figures { ...F } }
        topTags { tag count } redList { id reason listedOn } blackList { id reason listedOn }
        redCount blackCount trend { month figures { ...F } } } }"""
        + F,
        {"region": "3305", "period": "2026-Q1"},
    ),
    # Literals, aliases (one field twice), inline fragments, __typename, the period.
    "aliases": (
        """{ d: dashboard(region: "3305", period: "2026-Q1") { __typename
        a: totals { total } b: totals { open total } ... on Dashboard { kids: children {
        figures { total } region { id code level levelLabel parentCode } } }
        period { label kind kindLabel start end } freshness { fromReplica asOf } asOf } }""",
        {},
    ),
    # Fields that read per request under kept ones: the tag's issues, the region's parent.
    "mixed": (
        """query($r: String!) { dashboard(region: $r, period: "2026-Q1") {
        topTags { tag count filter { tagsAny originWithin } issues(first: 2) { totalCount } }
        region { code parent { code } children { code } } totals { total }
        problemLists { total } } }""",
        {"r": "3305"},
    ),
    # Two dashboards in one request, another region and a town (computed live).
    "two": (
        """{ a: dashboard(region: "33", period: "2026-Q1") { totals { total } trend { month } }
        b: dashboard(region: "330521102", period: "2026-Q1") { totals { total } }
        c: dashboard(region: "3305", period: "2026-Q1") { boards { key name } } }""",
        {},
    ),
}


@pytest.fixture(autouse=True)
def _forget(db: Database) -> Iterator[None]:
    dashboard_service._keeper(db).forget()
    memo._kept.clear()
    yield
    memo._kept.clear()


def _without_clock(body: bytes) -> bytes:
    return re.sub(rb'"asOf":"[^"]*"', b'"asOf":""', body)


async def _raw(api: Api, query: str, variables: dict[str, Any], as_: str, **kw: Any) -> bytes:
    response = await api.post(query, variables, as_=as_, **kw)
    assert response.status_code == 200, response.text
    assert b'"errors"' not in response.content, response.text
    return response.content


async def _seed(db: Database) -> None:
    await insert_issues(
        db,
        [
            {"origin_region_code": "330521102", "tags": ["用工"]},
            {"origin_region_code": "330502100", "tags": ["用工", "融资"]},
            {"origin_region_code": "330521", "state": "CLOSED"},
        ],
    )


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_every_shape_answers_as_without_keeping(
    api: Api,
    db: Database,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    shape: str,
    locale: str,
) -> None:
    clock.set(NOW)
    await _seed(db)
    query, variables = SHAPES[shape]
    headers = {"Accept-Language": locale}
    first = await _raw(api, query, variables, "province.monitor", headers=headers)
    # Later (the clock and what follows it, asOf, are not kept), from what was kept:
    clock.set(NOW + dt.timedelta(seconds=1))
    kept = await _raw(api, query, variables, "province.monitor", headers=headers)
    assert len(memo._kept) >= 1, "nothing was kept: the test measures nothing"
    # The same operation with nothing kept: no memo plans compiled, no dashboards reused.
    monkeypatch.setattr(dashboard_types.Dashboard, "memo_fields", frozenset())
    executor._plans.clear()
    dashboard_types._made.clear()
    plain = await _raw(api, query, variables, "province.monitor", headers=headers)
    assert _without_clock(first) == _without_clock(plain)
    assert kept == plain
    executor._plans.clear()


async def _poison() -> int:
    """Every kept completion's totals replaced by a figure no computation gives."""
    poisoned = 0
    for _key, (_plan, found) in list(memo._kept.items()):
        if "totals" in found:
            found["totals"] = {**found["totals"], "total": 999_999}
            poisoned += 1
    return poisoned


Q = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") { asOf
  totals { total } boards { key name } } }"""


async def _total(api: Api, region: str, as_: str, locale: str = "zh-CN") -> int | None:
    data = await api.gql(Q, {"r": region}, as_=as_, headers={"Accept-Language": locale})
    found = data["dashboard"]
    return None if found is None else int(found["totals"]["total"])


async def test_kept_completions_stay_in_their_scope_and_locale(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    await _seed(db)
    assert await _total(api, "3305", "province.monitor") == 3
    assert await _poison() == 1
    # Served from what was kept: the poisoned figure comes back to the same scope...
    assert await _total(api, "3305", "province.monitor") == 999_999
    # ...never to another scope asking the same region, nor in another locale,
    assert await _total(api, "3305", "huzhou.center") == 3
    assert await _total(api, "3305", "province.monitor", "en") == 3
    # nor to anyone outside (checked before anything kept is looked at).
    assert await _total(api, "3305", "hangzhou.center") is None
    assert await _total(api, "33", "huzhou.center") is None


async def test_a_write_shows_at_once(api: Api, db: Database, clock: FrozenClock) -> None:
    clock.set(NOW)
    await _seed(db)
    assert await _total(api, "3305", "huzhou.center") == 3
    assert await _poison() == 1
    assert await _total(api, "3305", "huzhou.center") == 999_999
    await insert_issues(db, [{"origin_region_code": "330522001"}])
    assert await _total(api, "3305", "huzhou.center") == 4
    # A region renamed (reference data, read at every request) shows at once too.
    names = """{ dashboard(region: "33", period: "2026-Q1") { children { region { name } } }
      d: dashboard(region: "3305", period: "2026-Q1") { region { name } } }"""
    for _ in range(2):
        data = await api.gql(names, as_="province.monitor")
    assert data["d"]["region"]["name"] == "湖州市"
    async with db.admin.begin() as conn:
        await conn.exec_driver_sql("UPDATE region SET name = name || '新' WHERE code = '3305'")
    try:
        data = await api.gql(names, as_="province.monitor")
        children = [c["region"]["name"] for c in data["dashboard"]["children"]]
        assert "湖州市新" in children and data["d"]["region"]["name"] == "湖州市新"
    finally:
        async with db.admin.begin() as conn:
            await conn.exec_driver_sql(
                "UPDATE region SET name = left(name, -1) WHERE code = '3305'"
            )
