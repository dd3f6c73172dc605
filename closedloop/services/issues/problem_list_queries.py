"""Reading pushes to the seven problem lists, always in the caller's scope: a push is seen by
whoever reads its issue's internal records (``tenancy.scope.internal_visibility``), and
anything else answers as if it did not exist."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Principal
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.domain.problem_lists import PushState
from closedloop.tenancy.scope import in_subtree, internal_visibility

LATEST = 10  # pushes a dashboard lists


@dataclass(frozen=True, slots=True)
class PushRecord:
    id: int
    issue_id: int
    region_code: str
    reason: str
    pushed_by_name: str | None
    pushed_at: dt.datetime
    state: PushState
    reference: str | None
    delivered_at: dt.datetime | None
    last_error: str | None
    reported_at: dt.datetime | None
    report_message: str | None
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: dict[str, Any], pushed_by_name: str | None) -> PushRecord:
        """A ``problem_list_push`` row as it was written (an idempotent replay's answer)."""
        values = {k: v for k, v in row.items() if k in cls.__dataclass_fields__}
        values["state"] = PushState(values["state"])
        return cls(**{**values, "pushed_by_name": pushed_by_name})


def _select(principal: Principal) -> sa.Select[Any]:
    p, a = t.problem_list_push.c, t.account.c
    return (
        sa.select(
            p.id,
            p.issue_id,
            p.region_code,
            p.reason,
            a.display_name.label("pushed_by_name"),
            p.pushed_at,
            p.state,
            p.reference,
            p.delivered_at,
            p.last_error,
            p.reported_at,
            p.report_message,
            p.updated_at,
        )
        .select_from(
            t.problem_list_push.join(t.issue, t.issue.c.id == p.issue_id).outerjoin(
                t.account, a.id == p.pushed_by
            )
        )
        .where(internal_visibility(principal))
    )


Source = AsyncConnection | driver.Reader


def _record(row: Any) -> PushRecord:
    values = dict(row)
    values["state"] = PushState(values["state"])
    return PushRecord(**values)


def _filters(region: str | None, state: PushState | None) -> list[sa.ColumnElement[bool]]:
    p = t.problem_list_push.c
    where: list[sa.ColumnElement[bool]] = []
    if region is not None:
        where.append(in_subtree(p.region_code, region))
    if state is not None:
        where.append(p.state == state.value)
    return where


async def push_page(
    conn: Source,
    principal: Principal,
    region: str | None,
    state: PushState | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[PushRecord], int]:
    """Newest first: the pushes of the tiers in ``region``'s subtree (every tier in scope
    when None), and how many there are in all. Two statements whatever the page size."""
    p = t.problem_list_push.c
    where = _filters(region, state)
    page = _select(principal).where(*where)
    if after_id is not None:
        page = page.where(p.id < after_id)
    rows = await driver.rows(conn, page.order_by(p.id.desc()).limit(limit))
    counted = _select(principal).with_only_columns(sa.func.count().label("n")).where(*where)
    (total,) = await driver.rows(conn, counted)
    return [_record(r) for r in rows], int(total["n"])


async def pushes_by_id(
    conn: Source, principal: Principal, ids: Sequence[int]
) -> dict[int, PushRecord]:
    rows = await driver.rows(
        conn, _select(principal).where(driver.any_of(t.problem_list_push.c.id, ids))
    )
    return {r["id"]: _record(r) for r in rows}


async def pushes_for_issues(
    conn: Source, principal: Principal, issue_ids: Sequence[int]
) -> dict[int, list[PushRecord]]:
    """Each issue's pushes, one per tier, oldest first."""
    p = t.problem_list_push.c
    rows = await driver.rows(
        conn,
        _select(principal).where(driver.any_of(p.issue_id, issue_ids)).order_by(p.issue_id, p.id),
    )
    out: dict[int, list[PushRecord]] = defaultdict(list)
    for row in rows:
        out[row["issue_id"]].append(_record(row))
    return out


@dataclass(frozen=True, slots=True)
class PushSummary:
    """The pushes of a region's subtree made in a period: how many stand in each state,
    and the latest few."""

    by_state: dict[PushState, int]
    latest: list[PushRecord]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


async def push_summary(
    conn: Source, principal: Principal, region: str, start: dt.datetime, end: dt.datetime
) -> PushSummary:
    p = t.problem_list_push.c
    where = [in_subtree(p.region_code, region), p.pushed_at >= start, p.pushed_at < end]
    counts = await driver.rows(
        conn,
        _select(principal)
        .with_only_columns(p.state, sa.func.count().label("n"))
        .where(*where)
        .group_by(p.state),
    )
    latest = await driver.rows(
        conn, _select(principal).where(*where).order_by(p.id.desc()).limit(LATEST)
    )
    return PushSummary(
        {PushState(r["state"]): int(r["n"]) for r in counts},
        [_record(r) for r in latest],
    )
