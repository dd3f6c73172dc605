"""The generator's unit of work (``bench.generator.unit_of_work``: COPY buffers) and the
API's (``CommandTx``: a transaction) are two adapters of one port, driven by the same
command handlers: the same steps at the same times leave the same issue row, timeline and
custody ledger, through the GraphQL API and through the generator (the sweeper's light
events aside: the test API runs no sweeper). It also covers what the generator still writes
itself: the intake and a merge into an already simulated primary."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
import sqlalchemy as sa

from bench.generator import generate, lifecycle
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.domain.issues import RatingGrade
from closedloop.schema.relay import from_global_id
from tests.api.issue_helpers import ok, step, submit, unit_id
from tests.conftest import Api

# Every column the generator writes, but the one the sweeper keeps (the test API runs no
# sweeper: the simulation raises the lights the sweeper would have).
COMPARED = tuple(c for c in lifecycle.ISSUE_COLUMNS if c != "light_notified")


class Steps:
    """Moves the frozen clock between API steps and remembers each moment, for the
    simulation to replay them."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.times: list[dt.datetime] = []

    def later(self, hours: float) -> None:
        self.clock.advance(dt.timedelta(hours=hours))
        self.times.append(self.clock.now())


async def _rows(db: Database, issue_id: int) -> tuple[dict[str, Any], list[Any], list[Any]]:
    async with db.admin.connect() as conn:
        issue = (await conn.execute(sa.select(t.issue).where(t.issue.c.id == issue_id))).one()
        e, c = t.issue_event.c, t.issue_custody.c
        events = (
            await conn.execute(
                sa.select(
                    e.occurred_at,
                    e.actor_name,
                    e.type,
                    e.from_state,
                    e.to_state,
                    e.public,
                    e.message,
                    e.payload,
                )
                .where(e.issue_id == issue_id)
                .order_by(e.id)
            )
        ).all()
        custody = (
            await conn.execute(
                sa.select(
                    c.region_code,
                    c.handling_level,
                    c.board_id,
                    c.department_id,
                    c.started_at,
                    c.ended_at,
                    c.overdue_seconds,
                    c.lapsed_limits,
                )
                .where(c.issue_id == issue_id)
                .order_by(c.id)
            )
        ).all()
    return dict(issue._mapping), [tuple(r) for r in events], [tuple(r) for r in custody]


@pytest.mark.usefixtures("clean_issues")
async def test_a_delegated_life_through_the_api_and_the_generator(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    steps = Steps(clock)

    # Through the API: 新市 escalates to 德清, which hands it back down with a deadline
    # inside its own; 新市 assigns; the board replies after the deadline; the enterprise
    # rates it.
    issue = await submit(api, category="APPEAL")
    steps.later(3)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    steps.later(20)
    issue = await step(api, "escalateIssue", issue, "xinshi.center", reason="需上级部门政策支持")
    steps.later(5)
    own_due = dt.datetime.fromisoformat(issue["dueAt"])  # 德清's assignment limit
    due = clock.now() + (own_due - clock.now()) * 0.8
    issue = await step(
        api,
        "delegateIssue",
        issue,
        "deqing.center",
        toRegion="330521102",
        dueAt=due.isoformat(),
        reason="请属地核实情况后限期答复",
    )
    steps.later(4)
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    steps.later(6)
    issue = await step(api, "startIssue", issue, "xinshi.talent")
    steps.later(40)  # past the delegated deadline
    issue = await step(api, "resolveIssue", issue, "xinshi.talent", reply="已办结")
    steps.later(12)
    issue = await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="FAIRLY_SATISFIED")
    api_issue, api_events, api_custody = await _rows(db, _db_id(issue["id"]))

    # Through the generator's simulation, at the same times.
    world = await _world(db)
    sim = _sim(world, api_issue, api_events[0][1], clock.now())
    board = world.boards["330521102"]["TALENT"]
    sim.submit(sim.enterprise)
    at = iter(steps.times)
    sim.wait_until(next(at))
    sim.accept()
    sim.wait_until(next(at))
    sim.escalate("需上级部门政策支持", world.centers["330521"])
    sim.wait_until(next(at))
    sim.delegate("330521102", due, "请属地核实情况后限期答复", world.centers["330521102"])
    sim.wait_until(next(at))
    sim.assign(board)
    sim.wait_until(next(at))
    sim.start(board)
    sim.wait_until(next(at))
    sim.resolve(board.actor, "已办结")
    sim.wait_until(next(at))
    sim.rate(RatingGrade.FAIRLY_SATISFIED, None)
    sim.finish()

    assert api_issue["overdue"] and api_issue["delegated_from_region_code"] == "330521"
    _assert_same(sim, (api_issue, api_events, api_custody))


@pytest.mark.usefixtures("clean_issues")
async def test_a_merged_duplicate_through_the_api_and_the_generator(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    steps = Steps(clock)

    # Through the API: an issue is accepted; the same matter comes in again and the center
    # folds it into the first, which is then assigned and resolved.
    primary = await submit(api, category="APPEAL")
    steps.later(2)
    primary = await step(api, "acceptIssue", primary, "xinshi.center")
    steps.later(1)
    dup = await submit(api, as_="ent.xinshi-silk")
    steps.later(3)
    primary = await ok(
        api,
        "mergeIssues",
        {
            "primaryId": primary["id"],
            "primaryVersion": primary["version"],
            "duplicates": [{"id": dup["id"], "expectedVersion": dup["version"]}],
            "reason": "同一事项重复反映，合并办理",
        },
        "xinshi.center",
    )
    steps.later(5)
    primary = await step(api, "assignIssue", primary, "xinshi.center", boardId=talent)
    steps.later(30)
    primary = await step(api, "resolveIssue", primary, "xinshi.talent", reply="已办结")
    api_primary = await _rows(db, _db_id(primary["id"]))
    api_dup = await _rows(db, _db_id(dup["id"]))

    # Through the generator: the primary's whole life first, then the duplicate's merge
    # writes into it (as the generator does within a chunk).
    world = await _world(db)
    board = world.boards["330521102"]["TALENT"]
    first = _sim(world, api_primary[0], api_primary[1][0][1], clock.now())
    first.submit(first.enterprise)
    first.wait_until(steps.times[0])
    first.accept()
    first.wait_until(steps.times[3])
    first.assign(board)
    first.wait_until(steps.times[4])
    first.resolve(board.actor, "已办结")
    first.finish()
    second = _sim(world, api_dup[0], api_dup[1][0][1], clock.now())
    second.submit(second.enterprise)
    second.wait_until(steps.times[2])
    second.merge_into(first, "同一事项重复反映，合并办理")
    second.finish()

    assert api_dup[0]["state"] == "MERGED" and api_dup[0]["merged_into_id"] == first.d.id
    _assert_same(first, api_primary)
    _assert_same(second, api_dup)


async def _world(db: Database) -> generate.World:
    async with db.admin.connect() as conn:
        return await generate.load_world(conn, "33")


def _sim(
    world: generate.World, row: dict[str, Any], enterprise_name: str, now: dt.datetime
) -> lifecycle.IssueSim:
    """A simulation of the issue the API created as ``row`` (its first state)."""
    draft = lifecycle.IssueDraft(
        id=row["id"],
        number=row["number"],
        title=row["title"],
        content=row["content"],
        enterprise_id=row["enterprise_id"],
        origin_region_code=row["origin_region_code"],
        holding_region_code=row["origin_region_code"],
        channel=row["channel"],
        proactive=row["proactive"],
        created_at=row["created_at"],
        category=row["category"] if row["state"] != "MERGED" else None,
        tags=list(row["tags"]),
        submitted_by=row["submitted_by"],
    )
    region = row["origin_region_code"]
    return lifecycle.IssueSim(
        draft,
        random.Random(1),
        now,
        world,
        world.centers[region],
        lifecycle.enterprise_actor(
            row["enterprise_id"], region, enterprise_name, row["submitted_by"]
        ),
        dt.timedelta(days=world.rating_window_days),
    )


def _assert_same(sim: lifecycle.IssueSim, api: tuple[dict[str, Any], list[Any], list[Any]]) -> None:
    """The simulated issue row, timeline and custody ledger equal what the API wrote (the
    sweeper's lights aside)."""
    api_issue, api_events, api_custody = api
    generated = dict(zip(lifecycle.ISSUE_COLUMNS, sim.issue_row(), strict=True))
    assert {k: generated[k] for k in COMPARED} == {k: api_issue[k] for k in COMPARED}
    sim_events = [
        (e[1], e[3], e[4], e[5], e[6], e[7], e[8], json.loads(e[9]))
        for e in sim.event_rows()
        if e[4] != "LIGHT_CHANGED"
    ]
    assert sim_events == [tuple(e) for e in api_events]
    assert [c[1:] for c in sim.custody_rows()] == api_custody


def _db_id(global_id: str) -> int:
    decoded = from_global_id(global_id)
    assert decoded is not None
    return int(decoded[1])
