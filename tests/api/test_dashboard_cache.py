"""Kept dashboards (closedloop.services.evaluation.dashboard_cache): served again only while
exact, never to another scope, computed once for concurrent callers, and invalidated for
every process by a write to their slices, a refresh or the clock crossing a light's mark."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import pytest

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.domain.periods import parse_period
from closedloop.domain.scoring import Counters
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.services.evaluation.dashboard import Figures, dashboard
from closedloop.services.issues.sweeper import sweep
from closedloop.settings import Settings
from tests.api.evaluation_helpers import (
    bj,
    clean_evaluation,  # noqa: F401  (fixture)
    insert_issues,
    insert_list_entries,
    list_entry,
)
from tests.api.issue_helpers import submit
from tests.api.test_evaluation_rollup import principal
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

NOW = bj(2026, 3, 20, 12)
Q1 = parse_period("2026-Q1")
QUERY = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") { asOf
  totals { total open yellowLights redLights } children { region { code } figures { total } } } }"""


async def _total(api: Api, region: str, as_: str) -> int | None:
    data = await api.gql(QUERY, {"r": region}, as_=as_)
    found = data["dashboard"]
    return None if found is None else int(found["totals"]["total"])


def _kept(db: Database) -> dict[Any, Any]:
    """What the process keeps for ``db``: key -> kept answer."""
    return dict(dashboard_service._keeper(db)._kept.items())


def _poison(db: Database, region: str) -> int:
    """Replace the totals of every kept answer for ``region`` by a figure no computation
    gives: whoever is served it was served from the cache. Returns how many it poisoned."""
    keeper = dashboard_service._keeper(db)
    poisoned = 0
    for key, kept in list(keeper._kept.items()):
        if key[0] == region:
            value = dataclasses.replace(kept.value, totals=Figures(Counters(total=999_999)))
            keeper._kept[key] = dataclasses.replace(kept, value=value)
            poisoned += 1
    return poisoned


@pytest.fixture(autouse=True)
def _forget(db: Database) -> None:
    dashboard_service._keeper(db).forget()


async def test_a_kept_answer_is_served_only_to_its_own_scope(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    await insert_issues(
        db,
        [{"origin_region_code": "330521102"}, {"origin_region_code": "330502100"}],
    )
    assert await _total(api, "3305", "province.monitor") == 2
    # Served from the cache: the poisoned figure comes back to the province...
    assert _poison(db, "3305") == 1
    assert await _total(api, "3305", "province.monitor") == 999_999
    # ...never to 湖州's own staff, who ask the same region and period in another scope,
    assert await _total(api, "3305", "huzhou.center") == 2
    assert len(_kept(db)) == 2
    # and never to anyone outside: out of scope is not there, whatever is kept.
    for who, region in (
        ("hangzhou.center", "3305"),
        ("deqing.center", "3305"),
        ("huzhou.center", "33"),
        ("changxing.center", "330521"),
    ):
        assert await _total(api, region, who) is None, (who, region)
    assert await _total(api, "330521", "deqing.center") == 1
    # A kept answer is keyed by its period too.
    other = await dashboard(
        db, await principal(db, "province.monitor"), "3305", parse_period("2026-Q2"), NOW
    )
    assert other is not None and other.totals.total == 0


async def test_a_write_to_its_slices_invalidates_it(
    api: Api, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    clock.set(bj(2026, 2, 10, 10))
    assert await _total(api, "3305", "huzhou.center") == 0
    # Through the API (新市, a town of 德清).
    await submit(api, tags=["用工"])
    assert await _total(api, "3305", "huzhou.center") == 1
    # A write elsewhere (杭州) leaves 湖州's kept answer in place.
    _poison(db, "3305")
    await insert_issues(db, [{"origin_region_code": "330106004"}])
    assert await _total(api, "3305", "huzhou.center") == 999_999
    # Plain SQL into one of its slices: dirty, refreshed by the reader, recomputed.
    await insert_issues(db, [{"origin_region_code": "330522001"}])
    assert await _total(api, "3305", "huzhou.center") == 2
    # A slice refreshed by someone else (the sweeper: no dirty mark left, a new generation).
    _poison(db, "3305")
    await insert_issues(db, [{"origin_region_code": "3305"}])
    assert (await sweep(db, clock, settings)).rollup_slices >= 1
    assert await _total(api, "3305", "huzhou.center") == 3


async def test_another_process_sees_the_writes_this_one_refreshed(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    """Two processes keep their own answers; the slices' state in the database tells
    each when its answer is no longer exact, whoever refreshed."""
    clock.set(NOW)
    other = Database(db.engine, admin=db.admin, system=db.system)
    huzhou = await principal(db, "huzhou.center")
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    first = await dashboard(other, huzhou, "3305", Q1, NOW)
    assert first is not None and first.totals.total == 1
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    assert await _total(api, "3305", "huzhou.center") == 2  # this process refreshes
    again = await dashboard(other, huzhou, "3305", Q1, NOW)
    assert again is not None and again.totals.total == 2


async def test_lights_follow_the_clock_and_the_clock_columns(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    (issue_id,) = await insert_issues(
        db,
        [
            {
                "origin_region_code": "330521102",
                "clock_kind": "REPLY",
                "warn_at": NOW + dt.timedelta(hours=1),
                "due_at": NOW + dt.timedelta(hours=3),
            }
        ],
    )

    async def lights() -> tuple[int, int, str]:
        data = await api.gql(QUERY, {"r": "3305"}, as_="huzhou.center")
        totals = data["dashboard"]["totals"]
        return totals["yellowLights"], totals["redLights"], data["dashboard"]["asOf"]

    assert (await lights())[:2] == (0, 0)
    clock.set(NOW + dt.timedelta(minutes=59))
    yellow, red, as_of = await lights()  # kept: no mark crossed
    assert (yellow, red) == (0, 0)
    assert dt.datetime.fromisoformat(as_of) == NOW + dt.timedelta(minutes=59)
    assert [k.computed_at for k in _kept(db).values()] == [NOW]
    clock.set(NOW + dt.timedelta(hours=1))
    assert (await lights())[:2] == (1, 0)
    clock.set(NOW + dt.timedelta(hours=3))
    assert (await lights())[:2] == (0, 1)
    # The limit moved (an extension, written without any figure changing): dirty.
    async with db.admin.begin() as conn:
        await conn.execute(
            t.issue.update()
            .where(t.issue.c.id == issue_id)
            .values(due_at=NOW + dt.timedelta(hours=10))
        )
    assert (await lights())[:2] == (1, 0)
    # The clock stopped.
    async with db.admin.begin() as conn:
        await conn.execute(t.issue.update().where(t.issue.c.id == issue_id).values(clock_kind=None))
    assert (await lights())[:2] == (0, 0)


async def test_concurrent_callers_share_one_computation(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    computed = 0
    computing = asyncio.Event()
    original = dashboard_service._rolled_up

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal computed
        computed += 1
        computing.set()
        await asyncio.sleep(0.1)  # long enough for every caller to arrive
        return await original(*args, **kwargs)

    monkeypatch.setattr(dashboard_service, "_rolled_up", counted)
    province = await principal(db, "province.monitor")
    answers = await asyncio.gather(*(dashboard(db, province, "33", Q1, NOW) for _ in range(16)))
    assert computed == 1
    assert {a.totals.total for a in answers if a is not None} == {1}
    # A caller that gives up does not cancel the computation the others wait for.
    _poison(db, "33")
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    computing.clear()
    quitter = asyncio.ensure_future(dashboard(db, province, "33", Q1, NOW))
    await computing.wait()  # the quitter waits for the computation it started
    stayer = asyncio.ensure_future(dashboard(db, province, "33", Q1, NOW))
    quitter.cancel()
    answer = await stayer
    assert quitter.cancelled()
    assert answer is not None and answer.totals.total == 2
    assert computed == 2


async def test_a_computation_that_read_an_older_state_is_not_shared(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that arrives after a running computation read the slices' state, and finds
    another state, gets a computation of its own: it never receives an answer older than
    its own check."""
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    province = await principal(db, "province.monitor")
    reading = asyncio.Event()
    release = asyncio.Event()
    original = dashboard_service._rolled_up

    async def slow(*args: Any, **kwargs: Any) -> Any:
        found = await original(*args, **kwargs)
        if not release.is_set():
            reading.set()
            await release.wait()
        return found

    monkeypatch.setattr(dashboard_service, "_rolled_up", slow)
    first = asyncio.ensure_future(dashboard(db, province, "33", Q1, NOW))
    await reading.wait()  # the first computation has read its state and its figures
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    second = asyncio.ensure_future(dashboard(db, province, "33", Q1, NOW))
    await asyncio.sleep(0.05)
    release.set()
    old, new = await first, await second
    assert old is not None and old.totals.total == 1
    assert new is not None and new.totals.total == 2


async def test_what_is_not_kept_stays_exact(api: Api, db: Database, clock: FrozenClock) -> None:
    """A town's dashboard and a period that is not whole months are computed live, and
    ``live`` never reads the cache."""
    clock.set(NOW)
    await insert_issues(db, [{"origin_region_code": "330521102"}])
    deqing = await principal(db, "deqing.center")
    for region, period in (("330521102", "2026-Q1"), ("330521", "2026-01-15..2026-02-14")):
        found = await dashboard(db, deqing, region, parse_period(period), NOW)
        assert found is not None and found.totals.total == 1
    assert _kept(db) == {}
    await dashboard(db, deqing, "330521", Q1, NOW)
    _poison(db, "330521")
    live = await dashboard(db, deqing, "330521", Q1, NOW, live=True)
    assert live is not None and live.totals.total == 1


LISTS = """query($r: String!) { dashboard(region: $r, period: "2026-Q1") {
  redCount redList { reason addedByName } blackCount } }"""


async def test_lists_are_kept_until_an_entry_or_its_adder_changes(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    clock.set(NOW)
    await insert_issues(db, [{"origin_region_code": "330521102"}])

    async def red() -> list[tuple[str, str | None]]:
        found = (await api.gql(LISTS, {"r": "3305"}, as_="huzhou.center"))["dashboard"]
        assert found["redCount"] == len(found["redList"])
        return [(e["reason"], e["addedByName"]) for e in found["redList"]]

    assert await red() == []
    added = await list_entry(
        api,
        "huzhou.evaluator",
        kind="RED",
        targetKind="REGION",
        regionCode="330521",
        reason="用工服务经验全市推广",
        listedOn="2026-02-01",
    )
    assert added["errors"] == []
    name = added["entry"]["addedByName"]
    assert await red() == [("用工服务经验全市推广", name)]
    # Kept: poisoned, the figures come back as kept (the lists with them).
    _poison(db, "3305")
    assert await _total(api, "3305", "huzhou.center") == 999_999
    # The adder renamed: its entries' slices are stale.
    async with db.admin.begin() as conn:
        await conn.execute(
            t.account.update()
            .where(t.account.c.username == "huzhou.evaluator")
            .values(display_name="湖州评价员（改名）")
        )
    try:
        assert await red() == [("用工服务经验全市推广", "湖州评价员（改名）")]
        assert await _total(api, "3305", "huzhou.center") == 1
        # An entry outside the period's slices (2026-04) leaves it kept; one inside does not.
        _poison(db, "3305")
        await insert_list_entries(db, "RED", "330522", 1, dt.date(2026, 4, 2))
        assert await _total(api, "3305", "huzhou.center") == 999_999
        await insert_list_entries(db, "RED", "330522", 1, dt.date(2026, 3, 31))
        assert [reason for reason, _ in await red()] == ["批量录入 0", "用工服务经验全市推广"]
        # Removed (as the system role may).
        async with db.admin.begin() as conn:
            await conn.execute(t.list_entry.delete().where(t.list_entry.c.region_code == "330522"))
        assert [reason for reason, _ in await red()] == ["用工服务经验全市推广"]
    finally:
        async with db.admin.begin() as conn:
            await conn.execute(
                t.account.update()
                .where(t.account.c.username == "huzhou.evaluator")
                .values(display_name=name)
            )
