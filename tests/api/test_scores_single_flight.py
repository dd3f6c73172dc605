"""Scoreboards asked at the same moment are computed once (closedloop.services.single_flight):
every caller gets the answer one request alone gets, never one whose computation began
before the caller did, never one computed for another issue scope, and a failed
computation's error reaches every caller that shared it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest

from closedloop.authz.roles import Principal
from closedloop.db.database import Database
from closedloop.domain.periods import parse_period
from closedloop.domain.schemes import DEFAULT_SCHEME, ScoringError, load_scheme
from closedloop.services.evaluation import scores as score_service
from closedloop.services.evaluation.scores import GroupScores
from closedloop.services.evaluation.targets import TargetKind
from tests.api.evaluation_helpers import (
    bj,
    by_key,
    clean_evaluation,  # noqa: F401  (fixture)
    insert_issues,
    many,
    scores,
)
from tests.api.test_evaluation_rollup import principal
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

Q1 = "2026-Q1"
CLOSED = {"state": "CLOSED", "created_at": bj(2026, 2, 1)}
SCHEME = load_scheme(DEFAULT_SCHEME)
# A wrong implementation fails instead of hanging; no assertion is about time.
PATIENCE = 30


class Counted:
    """Counts the computations of scoreboards (``scores._score_each``) and the callers that
    reached the single flight (past their scope check); holds each computation, once it
    has read, until ``hold_until`` is true."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.computed = 0
        self.arrived = 0
        self.read = asyncio.Event()
        self.hold_until: Callable[[], bool] = lambda: True
        self.error: Exception | None = None
        self._changed = asyncio.Event()
        score = score_service._score_each
        share = score_service._FLIGHTS.share

        async def scoring(*args: Any) -> Any:
            self.computed += 1
            found = await score(*args)
            self.read.set()
            while not self.hold_until():
                self._changed.clear()
                await self._changed.wait()
            if self.error is not None:
                raise self.error
            return found

        async def sharing(key: Hashable, since: float, compute: Any) -> Any:
            self.arrived += 1
            self._changed.set()
            return await share(key, since, compute)

        monkeypatch.setattr(score_service, "_score_each", scoring)
        monkeypatch.setattr(score_service._FLIGHTS, "share", sharing)

    def hold_until_arrived(self, callers: int) -> None:
        self.hold_until = lambda: self.arrived >= callers

    async def until_arrived(self, callers: int) -> None:
        while self.arrived < callers:
            self._changed.clear()
            await self._changed.wait()

    def let_go(self) -> None:
        self.hold_until = lambda: True
        self._changed.set()


async def _all(*calls: Awaitable[Any], errors: bool = False) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=errors), PATIENCE)


async def _county_issues(db: Database) -> None:
    # 德清 3 issues, 长兴 2, 吴兴 1 in the quarter.
    await insert_issues(
        db,
        [
            *many(3, **CLOSED, origin_region_code="330521"),
            *many(2, **CLOSED, origin_region_code="330522"),
            {**CLOSED, "origin_region_code": "330502"},
        ],
    )


async def _as(db: Database, *usernames: str) -> dict[str, Principal]:
    """The principals, looked up before the calls: a caller begins when it calls."""
    return {name: await principal(db, name) for name in usernames}


async def _ranking(db: Database, who: Principal, region: str = "3305") -> list[GroupScores] | None:
    """The service's ranking of ``region``'s children for 2026-Q1, as ``who``."""
    return await score_service.group_scores(
        db, who, [SCHEME], TargetKind.REGION, region, [parse_period(Q1)]
    )


def _deqing(boards: list[GroupScores] | None) -> int:
    """德清's issues in the ranking of 湖州's counties."""
    assert boards is not None
    found = boards[0].entry("330521")
    assert found is not None
    return found.counters.total


async def test_concurrent_identical_requests_share_one_computation(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _county_issues(db)
    alone = await scores(api, "huzhou.evaluator", "REGION", "3305", Q1)
    assert alone is not None and by_key(alone)["330521"]["counters"]["total"] == 3
    evaluator = (await _as(db, "huzhou.evaluator"))["huzhou.evaluator"]
    service_alone = await _ranking(db, evaluator)
    counted = Counted(monkeypatch)
    # The service: sixteen callers that begin together share the one computation.
    counted.hold_until_arrived(16)
    boards = await _all(*(_ranking(db, evaluator) for _ in range(16)))
    assert (counted.arrived, counted.computed) == (16, 1)
    assert all(found == service_alone for found in boards)
    # Through the API: a request whose computation started before it began (the request's
    # own work before the service takes a few turns of the loop) shares the next one.
    counted.computed = counted.arrived = 0
    answers = await _all(
        *(scores(api, "huzhou.evaluator", "REGION", "3305", Q1) for _ in range(16))
    )
    assert counted.arrived == 16 and counted.computed <= 2, counted.computed
    assert all(answer == alone for answer in answers)


async def test_a_caller_that_gives_up_does_not_cancel_the_computation(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _county_issues(db)
    evaluator = (await _as(db, "huzhou.evaluator"))["huzhou.evaluator"]
    counted = Counted(monkeypatch)
    counted.hold_until = lambda: False
    quitter = asyncio.ensure_future(_ranking(db, evaluator))
    stayer = asyncio.ensure_future(_ranking(db, evaluator))
    await asyncio.wait_for(counted.read.wait(), PATIENCE)
    await asyncio.wait_for(counted.until_arrived(2), PATIENCE)
    quitter.cancel()
    counted.let_go()
    assert _deqing(await asyncio.wait_for(stayer, PATIENCE)) == 3
    assert quitter.cancelled() and counted.computed == 1


async def test_a_caller_never_gets_a_computation_that_began_before_it(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request arriving while an older computation runs, after a write that computation
    did not read, waits for it and shares the next one with every such request."""
    await _county_issues(db)
    counted = Counted(monkeypatch)
    counted.hold_until_arrived(3)
    first = asyncio.ensure_future(scores(api, "huzhou.evaluator", "REGION", "3305", Q1))
    await asyncio.wait_for(counted.read.wait(), PATIENCE)  # it has read 德清's 3 issues
    await insert_issues(db, [{**CLOSED, "origin_region_code": "330521"}])
    later = [
        asyncio.ensure_future(scores(api, "huzhou.evaluator", "REGION", "3305", Q1))
        for _ in range(2)
    ]
    old, *new = await _all(first, *later)
    assert by_key(old)["330521"]["counters"]["total"] == 3
    assert [by_key(found)["330521"]["counters"]["total"] for found in new] == [4, 4]
    # The two later requests shared the next computation.
    assert counted.computed == 2


async def test_other_scopes_and_regions_are_not_shared(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _county_issues(db)
    who = await _as(
        db, "province.monitor", "huzhou.evaluator", "deqing.evaluator", "hangzhou.center"
    )
    city = ("province.monitor", "huzhou.evaluator")
    expected = {name: await _ranking(db, who[name]) for name in city}
    deqing_towns = await _ranking(db, who["deqing.evaluator"], "330521")
    assert deqing_towns is not None and deqing_towns != expected["huzhou.evaluator"]
    counted = Counted(monkeypatch)
    counted.hold_until_arrived(7)
    callers = [name for name in city for _ in range(3)]
    *found, outside, own, elsewhere = await _all(
        *(_ranking(db, who[name]) for name in callers),
        # Out of scope while the city's ranking is computed: not there, as before.
        _ranking(db, who["deqing.evaluator"]),
        # 德清's own ranking of its towns: another key, its own answer.
        _ranking(db, who["deqing.evaluator"], "330521"),
        _ranking(db, who["hangzhou.center"]),
    )
    assert [boards == expected[name] for name, boards in zip(callers, found, strict=True)] == [
        True
    ] * 6
    assert outside is None and elsewhere is None
    assert own == deqing_towns
    # One computation per scope for the city, one for 德清's towns; none for the refused.
    assert (counted.arrived, counted.computed) == (7, 3)


async def test_a_shared_computations_error_reaches_every_caller(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _county_issues(db)
    evaluator = (await _as(db, "huzhou.evaluator"))["huzhou.evaluator"]
    counted = Counted(monkeypatch)
    counted.error = ScoringError("BROKEN", "坏了", "broken")
    counted.hold_until_arrived(4)
    outcomes = await _all(*(_ranking(db, evaluator) for _ in range(4)), errors=True)
    assert counted.computed == 1
    assert all(outcome is counted.error for outcome in outcomes)
    # The next caller computes again: nothing is kept, errors included.
    counted.error = None
    assert _deqing(await _ranking(db, evaluator)) == 3
    assert counted.computed == 2
