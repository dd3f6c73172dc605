"""A3b over generated data: the department statement books the ratings a unit's resolutions
got after the issue left the unit exactly as the rule says, worked out here in Python from
the rows themselves (``closedloop/services/evaluation/attribution.py``, A3 and A3b).

Every rated resolution counts (``RatingCount.EVERY_RESOLUTION``). The ratings of one issue
by one unit that no longer holds it are booked together, in the period of that unit's first
rated resolution of it; those of the unit holding it, in the period of its assignment.
Ratings come from the group's departments, the boards they lead, a board no department
leads and another county's department, spread over the months before, inside and after the
periods counted, so that a statement reading only the periods' ratings must still find a
unit's earlier and later ones."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.periods import month_period
from closedloop.services.evaluation.attribution import RATING_COLUMNS
from closedloop.services.evaluation.targets import PeerGroup, TargetKind, peer_group
from tests.api.evaluation_helpers import DEQING, bj, counted_ratings, insert_issues

pytestmark = pytest.mark.usefixtures("clean_issues")

PERIODS = [month_period(2026, m) for m in (2, 3, 4)]
GRADES = tuple(RATING_COLUMNS)
STATES = ("ASSIGNED", "IN_PROGRESS", "RESOLVED", "CLOSED", "REOPENED", "MERGED")


def _instant(rng: random.Random) -> dt.datetime:
    """From December to June: before, inside and after ``PERIODS``."""
    return bj(2025, 12, 1) + dt.timedelta(minutes=rng.randrange(200 * 24 * 60))


def _bucket(at: dt.datetime) -> int | None:
    return next((n for n, p in enumerate(PERIODS) if p.start_at <= at < p.end_at), None)


async def _units(db: Database, group: PeerGroup) -> list[tuple[int | None, int | None]]:
    """(board, department) pairs a resolution can come from."""
    d, b = t.department.c, t.board.c
    async with db.admin.connect() as conn:
        general = (
            await conn.execute(
                sa.select(b.id).where(b.region_code == DEQING.code, b.key == "GENERAL")
            )
        ).scalar_one()
        elsewhere = (
            await conn.execute(
                sa.select(d.id).where(d.region_code != DEQING.code).order_by(d.id).limit(1)
            )
        ).scalar_one()
    departments = [x.department_id for x in group.targets][:4]
    return [
        *((None, x) for x in departments),
        *((board, None) for board in list(group.led_boards)[:3]),
        (general, None),
        (None, elsewhere),
    ]


def _unit(group: PeerGroup, board: int | None, department: int | None) -> int | None:
    return department if department is not None else group.led_boards.get(board or -1)


def _ours(group: PeerGroup, board: int | None, department: int | None) -> bool:
    ids = {x.department_id for x in group.targets}
    return department in ids or board in group.led_boards


def _expected(
    group: PeerGroup, issues: list[dict[str, Any]], ratings: list[dict[str, Any]]
) -> dict[tuple[int, str], Counter[str]]:
    """Ratings by (period, target key), as A3 and A3b book them."""
    key_of = {x.department_id: x.key for x in group.targets}
    out: dict[tuple[int, str], Counter[str]] = {}
    by_issue: dict[int, list[dict[str, Any]]] = {}
    for r in ratings:
        by_issue.setdefault(r["issue_id"], []).append(r)
    for issue in issues:
        if issue["state"] == "MERGED":
            continue
        mine = by_issue.get(issue["id"], [])
        current = _unit(group, issue.get("board_id"), issue.get("department_id"))
        holding = _ours(group, issue.get("board_id"), issue.get("department_id"))
        n = _bucket(issue["assigned_at"]) if holding else None
        if n is not None and current in key_of:  # A3: the unit holding it now
            held = [
                r["grade"]
                for r in mine
                if _unit(group, r["board_id"], r["department_id"]) == current
            ]
            out.setdefault((n, key_of[current]), Counter()).update(held)
        left: dict[int | None, list[dict[str, Any]]] = {}
        for r in mine:
            unit = _unit(group, r["board_id"], r["department_id"])
            if _ours(group, r["board_id"], r["department_id"]) and unit != current:
                left.setdefault(unit, []).append(r)
        for unit, rated in left.items():  # A3b: left behind, at the first rated resolution
            n = _bucket(min(r["resolved_at"] for r in rated))
            if n is not None and unit in key_of:
                out.setdefault((n, key_of[unit]), Counter()).update(r["grade"] for r in rated)
    return {k: v for k, v in out.items() if v}


async def test_ratings_left_behind_equal_the_rule_worked_out_in_python(db: Database) -> None:
    rng = random.Random(18)
    async with db.admin.connect() as conn:
        group = await peer_group(conn, TargetKind.DEPARTMENT, DEQING)
    units = await _units(db, group)
    specs: list[dict[str, Any]] = []
    for _ in range(120):
        board, department = rng.choice(units[:-1])  # held in 德清 only
        created = bj(2025, 11, 20)
        specs.append(
            {
                "created_at": created,
                "state": rng.choice(STATES),
                "handling_level": "BOARD" if board else "CENTER",
                "board_id": board,
                "department_id": department,
                "assigned_at": _instant(rng),
            }
        )
    ids = await insert_issues(db, specs)
    issues = [{"id": i, **spec} for i, spec in zip(ids, specs, strict=True)]
    ratings: list[dict[str, Any]] = []
    for issue in issues:
        resolutions = iter(range(1, 20))
        # A few units each, each resolving (and being rated) one to three times.
        for board, department in rng.sample(units, rng.randrange(4)):
            for _ in range(rng.randrange(1, 4)):
                at = _instant(rng)
                ratings.append(
                    {
                        "issue_id": issue["id"],
                        "resolution": next(resolutions),
                        "resolved_at": at,
                        "region_code": DEQING.code if department != units[-1][1] else "330522",
                        "board_id": board,
                        "department_id": department,
                        "grade": rng.choice(GRADES),
                        "rated_at": at,
                    }
                )
    async with db.admin.begin() as conn:
        await conn.execute(t.issue_rating.insert(), ratings)

    expected = _expected(group, issues, ratings)
    got = await counted_ratings(db, group, PERIODS)
    assert got == expected
    # The data tells the formulations apart: ratings left behind in a period, and units
    # whose first rated resolution of an issue came before the periods with a later one
    # inside them (booked before: not counted), and the other way round.
    first_before, later_inside = _straddling(group, issues, ratings)
    assert first_before and later_inside and len(expected) >= 10


def _straddling(
    group: PeerGroup, issues: list[dict[str, Any]], ratings: list[dict[str, Any]]
) -> tuple[int, int]:
    """(issue, unit)s left behind with ratings before and inside the periods; with ratings
    inside and after them."""
    current = {i["id"]: _unit(group, i.get("board_id"), i.get("department_id")) for i in issues}
    times: dict[tuple[int, int | None], list[dt.datetime]] = {}
    for r in ratings:
        unit = _unit(group, r["board_id"], r["department_id"])
        if _ours(group, r["board_id"], r["department_id"]) and unit != current[r["issue_id"]]:
            times.setdefault((r["issue_id"], unit), []).append(r["resolved_at"])
    start, end = PERIODS[0].start_at, PERIODS[-1].end_at

    def inside(at: dt.datetime) -> bool:
        return start <= at < end

    before = sum(1 for x in times.values() if min(x) < start and any(map(inside, x)))
    after = sum(1 for x in times.values() if inside(min(x)) and max(x) >= end)
    return before, after
