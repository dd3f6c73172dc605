"""The generator's unit of work runs the API's handlers on an issue in memory: they refuse
what the API refuses (the generator cannot write an issue's life the API would not), and a
handler that waited for real I/O would be caught, not silently skipped."""

from __future__ import annotations

import asyncio
import datetime as dt
from functools import cache

import pytest

from bench.generator import generate as g
from bench.generator.lifecycle import _settings, center_actor, enterprise_actor
from bench.generator.unit_of_work import CopyUnitOfWork, IssueDraft
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import ClockKind, IssueState
from closedloop.services.issues import commands
from closedloop.tenancy.seed import default_region_file, parse_region_csv

T0 = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
E = IssueErrorCode


@cache
def world() -> g.World:
    rows = parse_region_csv(default_region_file()).rows
    return g.world_from_regions((r.code, r.name, r.parent_code) for r in rows)


def unit_of_work() -> CopyUnitOfWork:
    draft = IssueDraft(
        1, "330521-2026-000001", "用工", "缺工", 7, "330521", "330521", "HOTLINE_12345", False, T0
    )
    return CopyUnitOfWork(draft, world(), _settings(dt.timedelta(days=7), dt.timedelta(hours=24)))


CENTER = center_actor("330521", "德清县企业综合服务中心")


def test_a_step_writes_the_draft_its_timeline_and_ledger() -> None:
    tx = unit_of_work()
    tx.act(CENTER, T0, commands.accept(tx, 1, None))
    d = tx.d
    assert (d.state, d.version, d.accepted_at, d.clock_kind) == (
        IssueState.ACCEPTED,
        2,
        T0,
        ClockKind.ASSIGN,
    )
    assert d.due_at == T0 + dt.timedelta(days=2)  # the default rule: 2 days to assign
    assert [(e.type, e.actor_name, e.actor_id, e.bumps, e.clock_start) for e in tx.events] == [
        ("ACCEPTED", "德清县企业综合服务中心", None, True, True)  # no account: none recorded
    ]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (enterprise_actor(7, "330521", "德清地信"), E.PERMISSION_DENIED),  # not its to accept
        (center_actor("330522", "长兴县企业综合服务中心"), E.NOT_FOUND),  # out of its scope
    ],
)
def test_it_refuses_what_the_api_refuses(who: g.Actor, expected: IssueErrorCode) -> None:
    tx = unit_of_work()
    with pytest.raises(IssueCommandError) as refused:
        tx.act(who, T0, commands.accept(tx, 1, None))
    assert refused.value.code is expected
    assert tx.events == [] and tx.d.version == 1


def test_an_illegal_transition_is_refused() -> None:
    tx = unit_of_work()
    with pytest.raises(IssueCommandError) as refused:
        tx.act(CENTER, T0, commands.resolve(tx, 1, None, "已办结"))  # not accepted yet
    assert refused.value.code is E.INVALID_TRANSITION


def test_a_handler_that_waits_for_io_is_caught() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="waited for I/O"):
        unit_of_work().act(CENTER, T0, waits())
