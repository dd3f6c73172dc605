"""Reading a report's numbers: a handful of aggregate statements (PostgreSQL groups) inside
``Database.read(principal)``, so row-level security applies, with the application's own
visibility predicate on top."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.catalog import get_catalog
from closedloop.db import custody, time_limits
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.tables import RATING_COLUMNS
from closedloop.domain.issues import OPEN_STATES, IssueState
from closedloop.domain.periods import Period, comparison, parse_period
from closedloop.domain.regions import RegionLevel, is_valid_code, level_of
from closedloop.domain.schemes import RatingCount, Scheme, load_scheme
from closedloop.domain.scoring import Counters
from closedloop.services.reports.analysis.data import (
    Counts,
    IssueLine,
    ListLine,
    MonthCount,
    RegionCounts,
    ReportData,
    ReportNotFound,
    Share,
)
from closedloop.services.reports.analysis.wording import category_label, channel_label
from closedloop.tenancy.scope import in_subtree, issue_visibility

# --- gathering ---------------------------------------------------------------------------

RESOLVED_STATES = (IssueState.RESOLVED.value, IssueState.CLOSED.value)
OPEN = tuple(sorted(s.value for s in OPEN_STATES))
TOP_TAGS = 10
LIST_LIMIT = 30
# The GROUP BY expressions are repeated in the select list: literals (not bind parameters)
# keep both spellings textually equal, which PostgreSQL needs to match them.
_MONTH: sa.ColumnClause[str] = sa.literal_column("'month'")
_ZONE: sa.ColumnClause[str] = sa.literal_column("'Asia/Shanghai'")
# Length of a child's code below a region of each level (a town has no children; grouping
# a town by its own full code yields one row, which is ignored).
_CHILD_CODE_LENGTH = {
    RegionLevel.PROVINCE: 4,
    RegionLevel.CITY: 6,
    RegionLevel.COUNTY: 9,
    RegionLevel.TOWN: 9,
}


def _scope(
    principal: Principal, region_code: str, period: Period, until: dt.datetime | None = None
) -> list[sa.ColumnElement[bool]]:
    """The report's issues: visible, originating in the region's subtree, created in the
    period (up to ``until`` when only part of it is compared), not merged away."""
    c = t.issue.c
    return [
        # Row-level security already filters; the application predicate is kept as well so
        # the statement means the same under the owner role (and plans on the indexes).
        issue_visibility(principal),
        in_subtree(c.origin_region_code, region_code),
        c.created_at >= period.start_at,
        c.created_at < (period.end_at if until is None else min(until, period.end_at)),
        c.state != IssueState.MERGED.value,
    ]


def _rated(scheme: Scheme) -> tuple[sa.FromClause, list[sa.Label[Any]]]:
    """The issues joined to their ratings by grade, as the scheme counts them: every rating
    on record (``issue_rating``: an unsatisfied rating that reopened the issue still counts
    after it is resolved again), or the current rating of each resolved issue."""
    c = t.issue.c
    if scheme.rating_count is RatingCount.EVERY_RESOLUTION:
        r = t.issue_rating.c
        rated = (
            sa.select(*(sa.func.count().filter(r.grade == g).label(g) for g in RATING_COLUMNS))
            .where(r.issue_id == c.id)
            .correlate(t.issue)
            .lateral("rated")
        )
        columns = [
            sa.func.coalesce(sa.func.sum(rated.c[g]), 0).label(name)
            for g, name in RATING_COLUMNS.items()
        ]
        return t.issue.join(rated, sa.true()), columns
    resolved = c.state.in_(RESOLVED_STATES)
    columns = [
        sa.func.count().filter(resolved, c.rating == g).label(name)
        for g, name in RATING_COLUMNS.items()
    ]
    return t.issue, columns


def _counters(now: dt.datetime, scheme: Scheme) -> tuple[sa.FromClause, list[sa.Label[Any]]]:
    c = t.issue.c
    n = sa.func.count
    resolved = c.state.in_(RESOLVED_STATES)
    rejected, routed_out = IssueState.REJECTED.value, IssueState.ROUTED_OUT.value
    source, ratings = _rated(scheme)
    return source, [
        n().label("total"),
        n().filter(c.proactive).label("proactive"),
        n().filter(c.state.not_in([rejected, routed_out])).label("handled"),
        n().filter(c.state == rejected).label("rejected"),
        n().filter(c.state == routed_out).label("routed_out"),
        n().filter(resolved).label("resolved"),
        n().filter(resolved, c.rating.is_(None)).label("unrated_resolved"),
        *ratings,
        n().filter(c.reopen_count > 0).label("reopened"),
        n().filter(resolved, c.overdue).label("overdue_resolved"),
        n().filter(time_limits.overdue_open(c, now)).label("overdue_open"),
        n().filter(resolved, c.recurred).label("recurred"),
        n().filter(c.state.in_(OPEN)).label("open"),
    ]


_PLAIN = tuple(
    name for name in Counts.__dataclass_fields__ if name not in ("good", "rated", "resolutions")
)


def _counts(m: RowMapping, scheme: Scheme) -> Counts:
    """The row's counters; satisfaction as the scheme's counters reckon it (good ratings,
    unrated resolutions included, over resolutions: ``domain.scoring.Counters``)."""
    rated = Counters(
        unrated_resolved=int(m["unrated_resolved"]),
        ratings={g: int(m[name]) for g, name in RATING_COLUMNS.items() if m[name]},
    )
    return Counts(
        **{name: int(m[name]) for name in _PLAIN},
        good=rated.good_ratings(scheme.satisfied_grades),
        rated=rated.rated(),
        resolutions=rated.resolutions(),
    )


async def gather(
    db: Database,
    principal: Principal,
    region_code: str,
    period: Period | str,
    *,
    now: dt.datetime | None = None,
    list_limit: int = LIST_LIMIT,
) -> ReportData:
    """The report's numbers for ``region_code``'s subtree over ``period`` as ``principal``
    sees them. ``ReportNotFound`` when the region does not exist or is not the caller's to
    read (``dashboard.read``); ``InvalidPeriod`` for a period that does not parse."""
    if isinstance(period, str):
        period = parse_period(period)
    now = now or dt.datetime.now(dt.UTC)
    if not is_valid_code(region_code) or not can_on_region(
        principal, Action.DASHBOARD_READ, region_code
    ):
        raise ReportNotFound(region_code)
    # The default scheme's satisfied grades and way of counting ratings, so the report's
    # satisfaction rate is the one the scores use (满意、比较满意、基本满意; every rating).
    scheme = load_scheme()
    compared = comparison(period, now)
    # Reports tolerate lag: a replica serves them when one is in rotation.
    async with db.read_tolerant(principal) as (conn, freshness):
        regions = await _regions(conn, region_code)
        if region_code not in regions:
            raise ReportNotFound(region_code)
        level = level_of(region_code)
        grouped = await _grouped(conn, principal, region_code, period, now, scheme, level)
        source, counters = _counters(now, scheme)
        previous_row = (
            await conn.execute(
                sa.select(*counters)
                .select_from(source)
                .where(*_scope(principal, region_code, compared.previous, compared.previous_until))
            )
        ).one()
        tags = await _top_tags(conn, principal, region_code, period)
        overdue = await _overdue(conn, principal, region_code, period, now, list_limit)
        recurring = await _recurring(conn, principal, region_code, period, list_limit)
        entries = await _list_entries(conn, region_code, period)
    name, _, center = regions[region_code]
    children = {code: row[0] for code, row in regions.items() if code != region_code}
    return ReportData(
        region_code=region_code,
        region_name=name,
        region_level=level,
        center_name=center or f"{name}企业综合服务中心",
        period=period,
        generated_at=now,
        counts=grouped.total,
        previous=_counts(previous_row._mapping, scheme),
        comparison=compared,
        by_channel=grouped.channels,
        by_category=grouped.categories,
        by_month=grouped.months,
        by_region=_region_rows(region_code, level, children, grouped.children),
        top_tags=tags,
        overdue=overdue,
        recurring=recurring,
        red_list=tuple(e for e in entries if e.kind == "RED"),
        black_list=tuple(e for e in entries if e.kind == "BLACK"),
        list_limit=list_limit,
        freshness=freshness,
    )


async def _regions(conn: AsyncConnection, code: str) -> dict[str, tuple[str, str, str | None]]:
    """The region and its children: code → (name, level, center name)."""
    r = t.region
    q = (
        sa.select(r.c.code, r.c.name, r.c.level, t.center.c.name.label("center"))
        .select_from(r.outerjoin(t.center, t.center.c.region_code == r.c.code))
        .where(sa.or_(r.c.code == code, r.c.parent_code == code))
        .order_by(r.c.code)
    )
    return {row.code: (row.name, row.level, row.center) for row in await conn.execute(q)}


@dataclass(frozen=True, slots=True)
class _Grouped:
    total: Counts
    channels: tuple[Share, ...]
    categories: tuple[Share, ...]
    months: tuple[MonthCount, ...]
    children: dict[str, Counts]


async def _grouped(
    conn: AsyncConnection,
    principal: Principal,
    region_code: str,
    period: Period,
    now: dt.datetime,
    scheme: Scheme,
    level: RegionLevel,
) -> _Grouped:
    """Totals and the four breakdowns in one pass: GROUPING SETS over the same rows."""
    c = t.issue.c
    month = sa.func.date_trunc(_MONTH, sa.func.timezone(_ZONE, c.created_at))
    child = sa.func.substr(
        c.origin_region_code, 1, sa.literal_column(str(_CHILD_CODE_LENGTH[level]))
    )
    keys = (c.channel, c.category, month, child)
    source, counters = _counters(now, scheme)
    q = (
        sa.select(
            *(sa.func.grouping(k).label(f"g{i}") for i, k in enumerate(keys)),
            c.channel,
            c.category,
            month.label("month"),
            child.label("child"),
            *counters,
        )
        .select_from(source)
        .where(*_scope(principal, region_code, period))
        .group_by(sa.func.grouping_sets(sa.tuple_(), *(sa.tuple_(k) for k in keys)))
    )
    total = Counts()
    channels: list[Share] = []
    categories: list[Share] = []
    months: dict[dt.date, tuple[int, int]] = {}
    children: dict[str, Counts] = {}
    catalog = get_catalog()
    for row in await conn.execute(q):
        counts = _counts(row._mapping, scheme)
        if row.g0 == 0:
            found = catalog.channel(row.channel)
            channels.append(
                Share(
                    row.channel,
                    channel_label(row.channel),
                    counts.total,
                    bool(found and found.proactive),
                )
            )
        elif row.g1 == 0:
            categories.append(Share(row.category, category_label(row.category), counts.total))
        elif row.g2 == 0:
            months[row.month.date()] = (counts.total, counts.resolved)
        elif row.g3 == 0:
            children[row.child] = counts
        else:
            total = counts
    channels.sort(key=lambda s: (-s.count, _catalog_order(s.key)))
    # Largest first; the unclassified slice, when there is one, goes last whatever its size.
    categories.sort(key=lambda s: (s.key is None, -s.count, _catalog_order(s.key)))
    return _Grouped(
        total=total,
        channels=tuple(channels),
        categories=tuple(categories),
        months=tuple(MonthCount(m.start, *months.get(m.start, (0, 0))) for m in period.months()),
        children=children,
    )


def _catalog_order(key: str | None) -> int:
    catalog = get_catalog()
    keys = [c.key for c in catalog.channels] + [c.key for c in catalog.categories]
    return keys.index(key) if key in keys else len(keys)


def _region_rows(
    code: str,
    level: RegionLevel,
    children: dict[str, str],
    counts: dict[str, Counts],
) -> tuple[RegionCounts, ...]:
    if level is RegionLevel.TOWN:
        return ()
    rows = [RegionCounts(c, n, counts.get(c, Counts())) for c, n in sorted(children.items())]
    # Issues of enterprises registered at the region itself (not in a child) are the
    # region's "own level" (本级), as the statistics bulletins list them.
    if code in counts:
        rows.append(RegionCounts(code, _OWN_LEVEL[level], counts[code]))
    return tuple(rows)


_OWN_LEVEL = {
    RegionLevel.PROVINCE: "省本级",
    RegionLevel.CITY: "市本级",
    RegionLevel.COUNTY: "县本级",
    RegionLevel.TOWN: "本级",
}


async def _top_tags(
    conn: AsyncConnection, principal: Principal, region_code: str, period: Period
) -> tuple[Share, ...]:
    tagged = (
        sa.select(sa.func.unnest(t.issue.c.tags).label("tag"))
        .where(*_scope(principal, region_code, period))
        .subquery("tagged")
    )
    n = sa.func.count().label("n")
    q = (
        sa.select(tagged.c.tag, n)
        .group_by(tagged.c.tag)
        .order_by(n.desc(), tagged.c.tag)
        .limit(TOP_TAGS)
    )
    return tuple(Share(row.tag, row.tag, int(row.n)) for row in await conn.execute(q))


def _issue_lines_query(repeats: sa.Subquery | None = None) -> sa.Select[Any]:
    """Issue rows with where the enterprise is and who holds the issue (names); with
    ``repeats``, also the later issue that repeats each one."""
    c = t.issue.c
    origin = t.region.alias("origin")
    holder = t.region.alias("holder")
    joined = (
        t.issue.join(origin, origin.c.code == c.origin_region_code)
        .join(holder, holder.c.code == c.holding_region_code)
        .outerjoin(t.board, t.board.c.id == c.board_id)
        .outerjoin(t.department, t.department.c.id == c.department_id)
    )
    columns: list[sa.ColumnElement[Any]] = [
        c.number,
        c.title,
        c.state,
        c.created_at,
        c.due_at,
        c.resolved_at,
        origin.c.name.label("place"),
        holder.c.name.label("holder"),
        sa.func.coalesce(t.department.c.name_zh, t.board.c.name_zh).label("unit"),
    ]
    if repeats is not None:
        joined = joined.outerjoin(repeats, repeats.c.recurrence_of_id == c.id)
        columns.append(repeats.c.repeated_by)
    return sa.select(*columns).select_from(joined)


def _issue_line(row: Row[Any], **extra: Any) -> IssueLine:
    # Plain concatenation (「德清县人才服务」): STSong-Light has no glyph for U+00B7 「·」.
    unit = f"{row.holder}{row.unit}" if row.unit else f"{row.holder}企业综合服务中心"
    return IssueLine(
        number=row.number,
        title=row.title,
        place=row.place,
        unit=unit,
        state=row.state,
        created_at=row.created_at,
        due_at=row.due_at,
        resolved_at=row.resolved_at,
        **extra,
    )


async def _overdue(
    conn: AsyncConnection,
    principal: Principal,
    region_code: str,
    period: Period,
    now: dt.datetime,
    limit: int,
) -> tuple[IssueLine, ...]:
    c = t.issue.c
    late = sa.or_(
        sa.and_(c.state.in_(RESOLVED_STATES), c.overdue), time_limits.overdue_open(c, now)
    )
    late_seconds = custody.late_seconds(c, now).label("late_seconds")
    q = (
        _issue_lines_query()
        .add_columns(late_seconds)
        .where(*_scope(principal, region_code, period), late)
        .order_by(late_seconds.desc(), c.number)
        .limit(limit)
    )
    return tuple(
        _issue_line(row, late_days=math.ceil(float(row.late_seconds) / 86400))
        for row in await conn.execute(q)
    )


async def _recurring(
    conn: AsyncConnection,
    principal: Principal,
    region_code: str,
    period: Period,
    limit: int,
) -> tuple[IssueLine, ...]:
    c = t.issue.c
    later = t.issue.alias("later")
    # recurrence_of_id has no index: one grouped pass over the issues created since the
    # period began (a repeat always comes after the original) instead of a probe per row.
    repeats = (
        sa.select(later.c.recurrence_of_id, sa.func.min(later.c.number).label("repeated_by"))
        .where(later.c.recurrence_of_id.is_not(None), later.c.created_at >= period.start_at)
        .group_by(later.c.recurrence_of_id)
        .subquery("repeats")
    )
    q = (
        _issue_lines_query(repeats)
        .where(*_scope(principal, region_code, period), c.state.in_(RESOLVED_STATES), c.recurred)
        .order_by(c.created_at, c.number)
        .limit(limit)
    )
    rows = await conn.execute(q)
    return tuple(_issue_line(row, repeated_by=row.repeated_by) for row in rows)


async def _list_entries(
    conn: AsyncConnection, region_code: str, period: Period
) -> tuple[ListLine, ...]:
    le = t.list_entry
    q = (
        sa.select(
            le.c.kind,
            le.c.reason,
            le.c.listed_on,
            t.region.c.name.label("region"),
            t.department.c.name_zh.label("department"),
            t.issue.c.number,
        )
        .select_from(
            le.join(t.region, t.region.c.code == le.c.region_code)
            .outerjoin(t.department, t.department.c.id == le.c.department_id)
            # The issue table is under row-level security: an issue the caller may not see
            # simply leaves the number blank.
            .outerjoin(t.issue, t.issue.c.id == le.c.issue_id)
        )
        .where(
            in_subtree(le.c.region_code, region_code),
            le.c.listed_on >= period.start,
            le.c.listed_on < period.end,
        )
        .order_by(le.c.listed_on, le.c.id)
    )
    return tuple(
        ListLine(
            kind=row.kind,
            target=f"{row.region}{row.department}" if row.department else row.region,
            reason=row.reason,
            listed_on=row.listed_on,
            issue_number=row.number,
        )
        for row in await conn.execute(q)
    )
