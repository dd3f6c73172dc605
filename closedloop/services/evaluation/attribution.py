"""Attribution: which issues count for which target, and the scoring ``Counters``, in SQL.

Every rule below has a test in ``tests/api/test_evaluation_attribution.py``.

Population (both kinds of target)
  A1. MERGED duplicates never count. The primary they were merged into is an ordinary
      issue and counts once, however many duplicates it absorbed.
  A2. Issues settled in their original channel (handling level ORIGINAL_CHANNEL, taken in
      already CLOSED) count like any other resolved, unrated issue: they are in the issue
      library and were resolved.

Department target (department D of region R, catalog key K), period P
  A3. The issues whose *current* assignment is D itself, or a board of R whose
      ``lead_department_key`` is K (e.g. the IP and REGISTRATION boards count for
      MARKET_REGULATION), and whose (latest) assignment time ``assigned_at`` falls in P.
      A board led by the reform office (GENERAL, FALLBACK) counts for no department. An
      issue handed back, escalated or delegated loses its board/department and leaves the
      count; a re-assignment moves it to the new unit and to the period of the new
      assignment. (Boards and departments are only ever set for units of the holding
      region, so the query walks the holding-region index.)

Region target (region G, a child of the peer group's region), period P
  A4. The issues originating in G's subtree (``origin_region_code`` starts with G) and
      created in P, wherever they are held now. An issue escalated to the parent still
      counts for G; one delegated down from the parent to G does not (it originates
      elsewhere).

Counters (``closedloop.domain.scoring.Counters``), the same for both kinds unless noted
  total              the issues of the population
  proactive          of which from a proactive channel (``issue.proactive``, the channel's
                     flag at intake)
  handled            of the total, all but REJECTED and ROUTED_OUT: an issue still
                     SUBMITTED counts, it is waiting on the target
  resolved           state RESOLVED or CLOSED; a reopened issue is not resolved until it is
                     resolved again
  overdue_resolved   of the resolved:
                     A5 (department) ``issue.overdue``: resolved after its running limit;
                     A6 (region G) a time limit passed while a holder inside G's subtree had
                     the issue: an ``issue_custody`` row of the issue with its region in G's
                     subtree has ``overdue_seconds > 0``. Overdue time belongs to whoever
                     held the issue when its limit passed: lateness at an ancestor after an
                     escalation is not G's; lateness anywhere inside G's subtree (at the
                     assignment or the reply stage, at G or one of its towns) is G's, even
                     when a later holder replied in time.
  recurred           of the resolved, ``issue.recurred`` (a later issue repeats it)
  ratings            of the resolved, by grade (``issue.rating``)
  unrated_resolved   of the resolved, ``rating IS NULL``: good ratings, per the scheme
                     (未作评价的默认为好评); also the issues still inside the rating window
  responded_on_time  assigned within the assignment limit (``assigned_at`` set and not
                     ``assign_overdue``), or resolved in time by the center itself without
                     an assignment

Every statement runs in the caller's transaction (row-level security) *and* carries the
application's own scope predicate (``issue_visibility``); all periods of a history are
counted by one statement, bucketed with ``width_bucket`` over the periods' bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.domain.issues import IssueState
from closedloop.domain.periods import Period
from closedloop.domain.schemes import BASE_COUNTERS
from closedloop.domain.scoring import Counters
from closedloop.services.evaluation.targets import PeerGroup, TargetKind
from closedloop.tenancy.scope import in_subtree, issue_visibility

S = IssueState
RESOLVED_STATES = (S.RESOLVED.value, S.CLOSED.value)
NOT_HANDLED_STATES = (S.REJECTED.value, S.ROUTED_OUT.value)
MERGED = S.MERGED.value

BASE_COUNTER_COLUMNS = tuple(BASE_COUNTERS)
RATING_COLUMNS = t.RATING_COLUMNS
COUNTER_COLUMNS = t.COUNTER_COLUMNS


def responded_in_time(c: Any) -> ColumnElement[bool]:
    """Assigned within the assignment limit, or resolved in time without an assignment."""
    return sa.or_(
        sa.and_(c.assigned_at.is_not(None), sa.not_(c.assign_overdue)),
        sa.and_(c.assigned_at.is_(None), c.resolved_at.is_not(None), sa.not_(c.overdue)),
    )


def counter_columns(
    c: Any,
    overdue: ColumnElement[bool],
    *,
    live: ColumnElement[bool] | None = None,
    responded: ColumnElement[bool] | None = None,
    weight: Any = None,
) -> list[sa.Label[Any]]:
    """The aggregates behind ``Counters`` over rows with the issue's columns ``c``.

    ``overdue`` decides who is blamed for lateness (A5/A6); ``live`` restricts every counter
    when the rows still contain MERGED duplicates (the dashboard counts those apart).
    ``weight`` names a count column when the rows are already grouped (the dashboard groups
    issues by their facts first, so that each issue feeds one aggregate, not twenty).
    """

    def count(*conds: ColumnElement[bool]) -> ColumnElement[Any]:
        parts = [x for x in (live, *conds) if x is not None]
        agg = sa.func.count() if weight is None else sa.func.coalesce(sa.func.sum(weight), 0)
        if not parts:
            return agg
        if weight is None:
            return sa.func.count().filter(sa.and_(*parts))
        return sa.func.coalesce(sa.func.sum(weight).filter(sa.and_(*parts)), 0)

    resolved = c.state.in_(RESOLVED_STATES)
    columns = [
        count().label("total"),
        count(c.proactive).label("proactive"),
        count(c.state.not_in(NOT_HANDLED_STATES)).label("handled"),
        count(resolved).label("resolved"),
        count(resolved, overdue).label("overdue_resolved"),
        count(resolved, c.recurred).label("recurred"),
        count(responded if responded is not None else responded_in_time(c)).label(
            "responded_on_time"
        ),
        count(resolved, c.rating.is_(None)).label("unrated_resolved"),
    ]
    columns += [
        count(resolved, c.rating == grade).label(name) for grade, name in RATING_COLUMNS.items()
    ]
    return columns


def counters_from(m: Mapping[Any, Any]) -> Counters:
    """``Counters`` from a row's mapping carrying ``COUNTER_COLUMNS`` (ints, or sums)."""
    ratings = {grade: int(m[name]) for grade, name in RATING_COLUMNS.items() if m[name]}
    return Counters(
        **{name: int(m[name] or 0) for name in BASE_COUNTER_COLUMNS},
        ratings=ratings,
    )


def check_contiguous(periods: Sequence[Period]) -> None:
    if not periods:
        raise ValueError("at least one period")
    for before, after in pairwise(periods):
        if before.end != after.start:
            raise ValueError("periods must follow each other without gaps")


def instant_bucket(column: Any, periods: Sequence[Period]) -> ColumnElement[int]:
    """1 + the index of the period holding the instant (``width_bucket`` over the bounds)."""
    bounds = [p.start_at for p in periods] + [periods[-1].end_at]
    return sa.func.width_bucket(column, sa.literal(bounds, pg.ARRAY(sa.DateTime(timezone=True))))


def date_bucket(column: Any, periods: Sequence[Period]) -> ColumnElement[int]:
    """1 + the index of the period holding the date."""
    bounds = [p.start for p in periods] + [periods[-1].end]
    return sa.func.width_bucket(column, sa.literal(bounds, pg.ARRAY(sa.Date())))


async def group_counters(
    conn: AsyncConnection, principal: Principal, group: PeerGroup, periods: Sequence[Period]
) -> list[dict[str, Counters]]:
    """For each period (in order), the counters of every target of the group that has
    issues, by target key; targets without issues are absent (all counters 0)."""
    check_contiguous(periods)
    if not group.targets:
        return [{} for _ in periods]
    if group.kind is TargetKind.REGION:
        rows = await conn.execute(_region_statement(principal, group, periods))
        key_of: dict[Any, str] = {x.key: x.key for x in group.targets}
    else:
        rows = await conn.execute(_department_statement(principal, group, periods))
        key_of = {x.department_id: x.key for x in group.targets}
    out: list[dict[str, Counters]] = [{} for _ in periods]
    for row in rows:
        key = key_of.get(row.target)
        if key is not None and 1 <= row.bucket <= len(periods):
            out[row.bucket - 1][key] = counters_from(row._mapping)
    return out


def _region_statement(
    principal: Principal, group: PeerGroup, periods: Sequence[Period]
) -> sa.Select[*tuple[Any, ...]]:
    length = group.child_length
    assert length is not None  # a group with targets has children
    c = t.issue.c
    target = sa.func.substr(c.origin_region_code, 1, length)
    k = t.issue_custody.c
    # A6: blamed when a holder inside the target's subtree let a limit pass.
    blamed = (
        sa.exists()
        .where(
            k.issue_id == c.id,
            k.overdue_seconds > 0,
            sa.func.starts_with(k.region_code, target),
        )
        .correlate(t.issue)
    )
    bucket = instant_bucket(c.created_at, periods)
    return (
        sa.select(bucket.label("bucket"), target.label("target"), *counter_columns(c, blamed))
        .where(
            in_subtree(c.origin_region_code, group.region.code),
            # Issues of the group's own region belong to none of its children.
            sa.func.length(c.origin_region_code) >= length,
            c.created_at >= periods[0].start_at,
            c.created_at < periods[-1].end_at,
            c.state != MERGED,
            issue_visibility(principal),
        )
        .group_by(sa.text("1, 2"))
    )


def _department_statement(
    principal: Principal, group: PeerGroup, periods: Sequence[Period]
) -> sa.Select[*tuple[Any, ...]]:
    c = t.issue.c
    department_ids = [x.department_id for x in group.targets if x.department_id is not None]
    board_ids = list(group.led_boards)
    led: ColumnElement[Any] = (
        sa.case(dict(group.led_boards), value=c.board_id) if group.led_boards else sa.null()
    )
    target = sa.func.coalesce(c.department_id, led)
    bucket = instant_bucket(c.assigned_at, periods)
    return (
        sa.select(bucket.label("bucket"), target.label("target"), *counter_columns(c, c.overdue))
        .where(
            c.holding_region_code == group.region.code,
            sa.or_(c.department_id.in_(department_ids), c.board_id.in_(board_ids)),
            c.assigned_at >= periods[0].start_at,
            c.assigned_at < periods[-1].end_at,
            c.state != MERGED,
            issue_visibility(principal),
        )
        .group_by(sa.text("1, 2"))
    )
