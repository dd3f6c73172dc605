"""The periodic analysis report (涉企问题高效闭环解决分析报告) of a region and period.

``gather`` reads the numbers in a handful of aggregate statements (the grouping is done by
PostgreSQL) inside ``Database.read(principal)``, so row-level security applies, and adds the
application's own visibility predicate on top. ``render_html`` and ``render_pdf`` lay the same
``ReportData`` out as a document: sections, short generated sentences, tables and charts.
The charts are reportlab drawings, rendered to inline SVG for the HTML and as vector graphics
into the PDF, so both formats share one piece of chart code. Chinese text in the PDF uses
reportlab's built-in CID font STSong-Light: nothing to ship, the viewer supplies the glyphs.

Definitions (统计口径), the same as the platform indicators of the Huzhou scheme:

* the report's issues originate in the region's subtree and were created in the period
  (Beijing time); issues merged into another are left out, their primary counts once;
* handled (办理) = all but the rejected and those routed out to a dedicated route;
* resolved (办结) = RESOLVED or CLOSED;
* resolution rate = resolved / handled; overdue rate = resolved after the limit / handled;
* satisfaction rate = (resolved and rated in the scheme's satisfied grades, or unrated) /
  resolved — an unrated issue counts as good (未作评价的默认为好评);
* recurrence rate = resolved issues that later recurred / resolved;
* proactive discovery rate = issues from a proactive channel / all issues.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import itertools
import math
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache
from typing import Any

import sqlalchemy as sa
from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.doughnut import Doughnut
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors, textsplit
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
    paragraph,
)
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop import i18n
from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.catalog import get_catalog
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.issues import OPEN_STATES, IssueState
from closedloop.domain.periods import CHINA, Period, PeriodKind, parse_period
from closedloop.domain.regions import RegionLevel, is_valid_code, level_of
from closedloop.domain.schemes import load_scheme
from closedloop.tenancy.scope import in_subtree, issue_visibility

# --- the numbers -------------------------------------------------------------------------


class ReportNotFound(LookupError):
    """No such region, or not in the caller's scope: the two answer alike (DESIGN §3)."""

    def __init__(self, region_code: str) -> None:
        super().__init__(f"region not found: {region_code!r}")
        self.region_code = region_code


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


@dataclass(frozen=True, slots=True)
class Counts:
    total: int = 0  # 受理问题总数
    proactive: int = 0  # from a proactive channel (主动发现)
    handled: int = 0  # 办理问题总数: not rejected, not routed out
    rejected: int = 0
    routed_out: int = 0  # guided to a dedicated route (投诉、举报、办事)
    resolved: int = 0  # 办结
    good: int = 0  # resolved and satisfied, or resolved and unrated
    rated: int = 0
    # Reopened at least once: an unsatisfied rating reopens an issue (its grade is cleared
    # when it is resolved again), as does an enterprise's request; so this, not the grades of
    # the resolved, is where dissatisfaction shows.
    reopened: int = 0
    overdue_resolved: int = 0  # 超时办结
    overdue_open: int = 0  # still open and past the running limit (超期未办结)
    recurred: int = 0  # resolved, then repeated by a later issue (重发复发)
    open: int = 0  # still in hand

    @property
    def resolution_rate(self) -> Fraction | None:
        return _ratio(self.resolved, self.handled)

    @property
    def satisfaction_rate(self) -> Fraction | None:
        return _ratio(self.good, self.resolved)

    @property
    def overdue_rate(self) -> Fraction | None:
        return _ratio(self.overdue_resolved, self.handled)

    @property
    def recurrence_rate(self) -> Fraction | None:
        return _ratio(self.recurred, self.resolved)

    @property
    def proactive_rate(self) -> Fraction | None:
        return _ratio(self.proactive, self.total)


@dataclass(frozen=True, slots=True)
class Share:
    """One bar or slice: a channel, a category or a tag, and its issue count."""

    key: str | None
    label: str
    count: int
    proactive: bool = False


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: dt.date  # the first day of the month
    received: int
    resolved: int  # of those received that month, resolved by now


@dataclass(frozen=True, slots=True)
class RegionCounts:
    code: str
    name: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class IssueLine:
    number: str
    title: str
    place: str  # where the enterprise is (origin region)
    unit: str  # who holds or held it
    state: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    late_days: int = 0  # overdue list: whole days past the limit (started days count)
    repeated_by: str | None = None  # recurring list: the later issue that repeats it


@dataclass(frozen=True, slots=True)
class ListLine:
    kind: str  # RED or BLACK
    target: str
    reason: str
    listed_on: dt.date
    issue_number: str | None


@dataclass(frozen=True, slots=True)
class ReportData:
    region_code: str
    region_name: str
    region_level: RegionLevel
    center_name: str
    period: Period
    generated_at: dt.datetime
    counts: Counts
    previous: Counts  # the previous period of the same kind, for comparisons
    by_channel: tuple[Share, ...]  # largest first
    by_category: tuple[Share, ...]  # largest first, unclassified last
    by_month: tuple[MonthCount, ...]  # every month of the period, also empty ones
    by_region: tuple[RegionCounts, ...]  # child regions in code order (empty for a town)
    top_tags: tuple[Share, ...]
    overdue: tuple[IssueLine, ...]  # the most overdue first, at most ``list_limit``
    recurring: tuple[IssueLine, ...]
    red_list: tuple[ListLine, ...]
    black_list: tuple[ListLine, ...]
    list_limit: int


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


def _scope(principal: Principal, region_code: str, period: Period) -> list[sa.ColumnElement[bool]]:
    c = t.issue.c
    return [
        # Row-level security already filters; the application predicate is kept as well so
        # the statement means the same under the owner role (and plans on the indexes).
        issue_visibility(principal),
        in_subtree(c.origin_region_code, region_code),
        c.created_at >= period.start_at,
        c.created_at < period.end_at,
        c.state != IssueState.MERGED.value,
    ]


def _counters(now: dt.datetime, satisfied: Sequence[str]) -> list[sa.Label[Any]]:
    c = t.issue.c
    n = sa.func.count
    resolved = c.state.in_(RESOLVED_STATES)
    rejected, routed_out = IssueState.REJECTED.value, IssueState.ROUTED_OUT.value
    return [
        n().label("total"),
        n().filter(c.proactive).label("proactive"),
        n().filter(c.state.not_in([rejected, routed_out])).label("handled"),
        n().filter(c.state == rejected).label("rejected"),
        n().filter(c.state == routed_out).label("routed_out"),
        n().filter(resolved).label("resolved"),
        n().filter(resolved, sa.or_(c.rating.is_(None), c.rating.in_(satisfied))).label("good"),
        n().filter(resolved, c.rating.is_not(None)).label("rated"),
        n().filter(c.reopen_count > 0).label("reopened"),
        n().filter(resolved, c.overdue).label("overdue_resolved"),
        n()
        .filter(c.state.in_(OPEN), c.clock_kind.is_not(None), c.due_at <= now)
        .label("overdue_open"),
        n().filter(resolved, c.recurred).label("recurred"),
        n().filter(c.state.in_(OPEN)).label("open"),
    ]


def _counts(m: RowMapping) -> Counts:
    return Counts(**{name: int(m[name]) for name in Counts.__dataclass_fields__})


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
    # The default scheme's satisfied grades, so the report's satisfaction rate is the one
    # the scores use (满意、比较满意、基本满意).
    satisfied = sorted(load_scheme().satisfied_grades)
    async with db.read(principal) as conn:
        regions = await _regions(conn, region_code)
        if region_code not in regions:
            raise ReportNotFound(region_code)
        level = level_of(region_code)
        grouped = await _grouped(conn, principal, region_code, period, now, satisfied, level)
        previous_row = (
            await conn.execute(
                sa.select(*_counters(now, satisfied)).where(
                    *_scope(principal, region_code, period.previous())
                )
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
        previous=_counts(previous_row._mapping),
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
    satisfied: Sequence[str],
    level: RegionLevel,
) -> _Grouped:
    """Totals and the four breakdowns in one pass: GROUPING SETS over the same rows."""
    c = t.issue.c
    month = sa.func.date_trunc(_MONTH, sa.func.timezone(_ZONE, c.created_at))
    child = sa.func.substr(
        c.origin_region_code, 1, sa.literal_column(str(_CHILD_CODE_LENGTH[level]))
    )
    keys = (c.channel, c.category, month, child)
    q = (
        sa.select(
            *(sa.func.grouping(k).label(f"g{i}") for i, k in enumerate(keys)),
            c.channel,
            c.category,
            month.label("month"),
            child.label("child"),
            *_counters(now, satisfied),
        )
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
        counts = _counts(row._mapping)
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
    k = t.issue_custody.c
    running = sa.and_(c.state.in_(OPEN), c.clock_kind.is_not(None), c.due_at <= now)
    late = sa.or_(sa.and_(c.state.in_(RESOLVED_STATES), c.overdue), running)
    # How long the issue has been past its limits: the custody ledger holds the late time of
    # every clock that has stopped (``due_at`` only keeps the latest clock, which a reopening
    # restarts), plus, while a clock is still running late, the time since it ran out (or
    # since the current holder took it over, whose ledger row has not accrued yet).
    accrued = (
        sa.select(sa.func.coalesce(sa.func.sum(k.overdue_seconds), 0))
        .where(k.issue_id == c.id)
        .scalar_subquery()
    )
    held_since = (
        sa.select(sa.func.max(k.started_at))
        .where(k.issue_id == c.id, k.ended_at.is_(None))
        .scalar_subquery()
    )
    since = sa.func.greatest(c.due_at, sa.func.coalesce(held_since, c.due_at))
    current = sa.case((running, sa.func.extract("epoch", now - since)), else_=0)
    late_seconds = (accrued + current).label("late_seconds")
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


# --- labels and formats ------------------------------------------------------------------

# The catalog's channel names are official and long (「线上企业综合服务平台（湖企办/浙里办）」);
# charts need the short names people use in reports.
CHANNEL_SHORT = {
    "ONLINE_PORTAL": "线上服务平台",
    "CENTER_WINDOW": "中心线下窗口",
    "HOTLINE_12345": "12345热线",
    "BUSINESS_COMPLAINT_LINE": "营商环境投诉专线",
    "DIALOGUE_MEETING": "政企恳谈会",
    "QIXIAOBANG": "浙企之家企小帮",
    "GOOD_BAD_REVIEW": "政务服务好差评",
    "PEOPLES_CONGRESS": "人大联群网",
    "CPPCC": "政协社情民意",
    "TALENT_LOUNGE": "人才会客厅",
    "POLICE_11087": "公安110-87",
    "GRASSROOTS_PLATFORM": "基层治理四平台",
    "SUPERIOR_ASSIGNED": "上级交办",
    "INSPECTION": "督帮发现",
    "DEPARTMENT_REPORT": "部门研判报送",
    "SERVICE_STAFF": "服务专员主动查找",
    "SYSTEM_CAPTURE": "系统自动抓取",
}
UNCLASSIFIED = "待分类"
_QUARTERS = "一二三四"
_NUMERALS = "一二三四五六七八九十"


def channel_label(key: str) -> str:
    if key in CHANNEL_SHORT:
        return CHANNEL_SHORT[key]
    found = get_catalog().channel(key)
    return re.sub(r"（.*?）", "", found.zh) if found else key


def category_label(key: str | None) -> str:
    if key is None:
        return UNCLASSIFIED
    found = get_catalog().category(key)
    return found.zh if found else key


def state_label(key: str) -> str:
    return i18n.label(key, i18n.ZH, "IssueState")


def period_title(p: Period) -> str:
    """「2026年第一季度」, 「2026年3月」, 「2026年度」, 「2026年1月1日至3月31日」."""
    y = p.start.year
    if p.kind is PeriodKind.QUARTER:
        return f"{y}年第{_QUARTERS[(p.start.month - 1) // 3]}季度"
    if p.kind is PeriodKind.MONTH:
        return f"{y}年{p.start.month}月"
    if p.kind is PeriodKind.YEAR:
        return f"{y}年度"
    last = p.last_day
    tail = _date(last) if last.year != y else f"{last.month}月{last.day}日"
    return f"{_date(p.start)}至{tail}"


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _this(p: Period) -> str:
    return {PeriodKind.QUARTER: "本季度", PeriodKind.MONTH: "本月", PeriodKind.YEAR: "本年度"}.get(
        p.kind, "本期"
    )


def _last(p: Period) -> str:
    return {PeriodKind.QUARTER: "上季度", PeriodKind.MONTH: "上月", PeriodKind.YEAR: "上年度"}.get(
        p.kind, "上期"
    )


def _num(n: int) -> str:
    return f"{n:,}"


def _percent_value(r: Fraction) -> Decimal:
    """A rate as a percentage with one decimal, rounded half-up (96.25 → 96.3)."""
    exact = Decimal(r.numerator) * 100 / Decimal(r.denominator)
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def pct(r: Fraction | None) -> str:
    return "—" if r is None else f"{_percent_value(r)}%"


def _share(part: int, whole: int) -> str:
    return pct(_ratio(part, whole))


def _count_change(now: int, before: int, last: str) -> str:
    if before == 0:
        return f"{last}无可比数据"
    change = _percent_value(Fraction(now - before, before))
    if change == 0:
        return f"与{last}（{_num(before)}件）持平"
    word = "增长" if change > 0 else "下降"
    return f"较{last}（{_num(before)}件）{word}{abs(change)}%"


def _point_change(now: Fraction | None, before: Fraction | None, last: str) -> str:
    if now is None or before is None:
        return ""
    diff = _percent_value(now) - _percent_value(before)
    if diff == 0:
        return f"与{last}持平"
    return f"较{last}{'提高' if diff > 0 else '下降'}{abs(diff)}个百分点"


def _local(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(CHINA)


def _quote(names: Iterable[str]) -> str:
    return "".join(f"“{n}”" for n in names)


def _series(items: Sequence[str]) -> str:
    """a、b和c."""
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "和" + items[-1]


# --- the document model (shared by HTML and PDF) ------------------------------------------

FONT = "STSong-Light"
NUM_FONT = "Helvetica"
NUM_BOLD = "Helvetica-Bold"

INK = colors.HexColor("#1F2D3D")
MUTED = colors.HexColor("#6B7785")
RULE = colors.HexColor("#D5DCE4")
PANEL = colors.HexColor("#F3F6FA")
RED = colors.HexColor("#B8202A")
BLUE = colors.HexColor("#2E5E9E")
ORANGE = colors.HexColor("#E07B39")
GREEN = colors.HexColor("#4E9A6B")
PALETTE = [
    colors.HexColor(h)
    for h in (
        "#2E5E9E",
        "#E07B39",
        "#4E9A6B",
        "#D9A63A",
        "#7B5EA7",
        "#3A9AB7",
        "#C4574E",
        "#8C8C8C",
    )
]
_NO_LINE_START = "，；：！？”’）》」』"
CHART_WIDTH = 455.0  # fits the PDF's text frame (A4 less 48 mm of margins)


@cache
def _fonts() -> None:
    # Registered once per process; the CID font carries metrics only, the glyphs come from
    # the viewer (PDF) or the browser's fonts (SVG), so nothing has to be shipped.
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    # reportlab's CJK line breaking hangs a character that cannot start a line into the
    # margin, but its list misses the full-width Chinese punctuation (，；：！？”), so a
    # line could begin with a comma. Both splitters (one for single-style paragraphs, one
    # for mixed) read their module's copy at wrap time: extend each once.
    for module in (textsplit, paragraph):
        missing = "".join(ch for ch in _NO_LINE_START if ch not in module.ALL_CANNOT_START)
        module.ALL_CANNOT_START += missing


def _width(text: str, font: str, size: float) -> float:
    _fonts()
    return float(pdfmetrics.stringWidth(text, font, size))


@dataclass(frozen=True, slots=True)
class _Heading:
    text: str


@dataclass(frozen=True, slots=True)
class _Para:
    text: str
    small: bool = False
    lead: str = ""  # a leading phrase set in bold (HTML; the PDF's CID font has no bold)


@dataclass(frozen=True, slots=True)
class _Figure:
    drawing: Drawing
    caption: str


@dataclass(frozen=True, slots=True)
class _Table:
    columns: tuple[str, ...]
    widths: tuple[float, ...]  # relative
    align: str  # one letter per column: L, C, R, or N (an issue number: never wrapped)
    rows: tuple[tuple[str, ...], ...]
    caption: str


_Block = _Heading | _Para | _Figure | _Table


def title_of(data: ReportData) -> str:
    return f"{data.region_name}涉企问题高效闭环解决分析报告"


def _document(data: ReportData) -> list[_Block]:
    """The report as a sequence of blocks; both renderers lay out exactly these."""
    blocks: list[_Block] = []
    figures = iter(range(1, 100))
    tables = iter(range(1, 100))
    sections = iter(_NUMERALS)
    c = data.counts

    def heading(text: str) -> None:
        blocks.append(_Heading(f"{next(sections)}、{text}"))

    def figure(drawing: Drawing, caption: str) -> None:
        blocks.append(_Figure(drawing, f"图{next(figures)}　{caption}"))

    def table(
        columns: tuple[str, ...],
        widths: tuple[float, ...],
        align: str,
        rows: Iterable[tuple[str, ...]],
        caption: str,
    ) -> None:
        blocks.append(_Table(columns, widths, align, tuple(rows), f"表{next(tables)}　{caption}"))

    heading("总体情况")
    blocks.extend(_Para(s) for s in _overview(data))
    figure(_kpi_cards(data), "主要指标")
    if c.total == 0:
        heading("说明")
        blocks.append(_Para("统计期内没有受理涉企问题，以下各项分析从略。"))
        blocks.extend(_definitions(data))
        return blocks

    heading("问题来源分析")
    blocks.append(_Para(_channel_text(data)))
    figure(_channel_chart(data), "各渠道受理问题数量")

    heading("问题类别分析")
    blocks.append(_Para(_category_text(data)))
    figure(_category_chart(data), "问题类别构成")

    heading("月度趋势")
    blocks.append(_Para(_month_text(data)))
    figure(_month_chart(data), "各月受理及办结情况")

    if data.by_region:
        heading(f"{_child_noun(data.region_level)}情况")
        blocks.append(_Para(_region_text(data)))
        figure(_region_chart(data), f"{_child_noun(data.region_level)}受理问题数量")
        table(
            ("地区", "受理", "办结", "办结率", "满意率", "超时办结率", "重发复发率", "主动发现率"),
            (16, 10, 10, 11, 11, 13, 13, 13),
            "LRRRRRRR",
            (
                (
                    r.name,
                    _num(r.counts.total),
                    _num(r.counts.resolved),
                    pct(r.counts.resolution_rate),
                    pct(r.counts.satisfaction_rate),
                    pct(r.counts.overdue_rate),
                    pct(r.counts.recurrence_rate),
                    pct(r.counts.proactive_rate),
                )
                for r in data.by_region
            ),
            f"{_child_noun(data.region_level)}主要指标",
        )

    heading("高频问题分析")
    blocks.append(_Para(_tags_text(data)))
    if data.top_tags:
        figure(_tags_chart(data), f"问题标签前{len(data.top_tags)}位")

    heading("超时问题")
    blocks.append(_Para(_overdue_text(data)))
    if data.overdue:
        table(
            ("序号", "问题编号", "问题", "属地", "承办单位", "状态", "超时"),
            (6, 22, 27, 10, 17, 9, 9),
            "CNLLLCR",
            (
                (
                    str(i),
                    line.number,
                    line.title,
                    line.place,
                    line.unit,
                    state_label(line.state),
                    f"{line.late_days}天",
                )
                for i, line in enumerate(data.overdue, 1)
            ),
            "超时问题清单（按超时天数排序）",
        )

    heading("重发复发问题")
    blocks.append(_Para(_recurring_text(data)))
    if data.recurring:
        table(
            ("序号", "问题编号", "问题", "属地", "办结日期", "复发问题编号"),
            (6, 22, 30, 11, 12, 22),
            "CNLLCN",
            (
                (
                    str(i),
                    line.number,
                    line.title,
                    line.place,
                    _local(line.resolved_at).strftime("%Y-%m-%d") if line.resolved_at else "",
                    line.repeated_by or "—",
                )
                for i, line in enumerate(data.recurring, 1)
            ),
            "重发复发问题清单",
        )

    heading("红黑榜")
    blocks.append(_Para(_lists_text(data)))
    for kind, entries in (("红榜", data.red_list), ("黑榜", data.black_list)):
        if entries:
            table(
                ("序号", "对象", "事由", "列入日期", "关联问题"),
                (6, 20, 42, 12, 20),
                "CLLCN",
                (
                    (
                        str(i),
                        e.target,
                        e.reason,
                        e.listed_on.isoformat(),
                        e.issue_number or "—",
                    )
                    for i, e in enumerate(entries, 1)
                ),
                kind,
            )

    heading("下一步工作建议")
    for i, advice in enumerate(_advice(data)):
        lead, _, rest = advice.partition("。")
        blocks.append(_Para(rest, lead=f"（{_NUMERALS[i]}）{lead}。"))
    blocks.extend(_definitions(data))
    return blocks


def _child_noun(level: RegionLevel) -> str:
    return {
        RegionLevel.PROVINCE: "分市",
        RegionLevel.CITY: "分县（市、区）",
        RegionLevel.COUNTY: "分乡镇（街道）",
    }.get(level, "分地区")


def _definitions(data: ReportData) -> list[_Block]:
    start, last = data.period.start, data.period.last_day
    return [
        _Para(
            "统计口径：统计"
            f"{_date(start)}至{_date(last)}（北京时间）{data.region_name}辖区企业提出的涉企问题，"
            "已合并的重复问题只计主问题一次。办结率＝办结问题数÷办理问题总数（不含不予受理和"
            "引导至专门渠道的问题）；企业满意率＝办结问题好评数÷办结问题数，评价为满意、比较满意、"
            "基本满意的计为好评，未作评价的默认为好评；超时办结率＝超时办结问题数÷办理问题总数；"
            "重发复发率＝问题解决后重发复发数÷办结问题数；主动发现率＝主动发现问题数÷问题总数。"
            "百分比保留一位小数（四舍五入）。",
            small=True,
        ),
        _Para(
            f"数据来源：涉企问题高效闭环解决平台。数据截至{_stamp(data.generated_at)}。",
            small=True,
        ),
    ]


def _stamp(instant: dt.datetime) -> str:
    local = _local(instant)
    return f"{_date(local.date())} {local:%H:%M}"


# --- generated sentences -----------------------------------------------------------------


def _overview(d: ReportData) -> list[str]:
    c, p, last = d.counts, d.previous, _last(d.period)
    head = f"{period_title(d.period)}，{d.region_name}共受理涉企问题{_num(c.total)}件"
    if c.total == 0:
        return [head + f"，{_count_change(c.total, p.total, last)}。"]
    first = (
        f"{head}，{_count_change(c.total, p.total, last)}。其中进入办理流程{_num(c.handled)}件，"
        f"引导至专门渠道{_num(c.routed_out)}件，不予受理{_num(c.rejected)}件。"
        f"已办结{_num(c.resolved)}件，办结率{pct(c.resolution_rate)}"
        + _paren(_point_change(c.resolution_rate, p.resolution_rate, last))
        + f"；尚在办理{_num(c.open)}件。"
    )
    reopened = f"，因企业不满意或申请而重新办理的{_num(c.reopened)}件" if c.reopened else ""
    second = (
        f"企业满意率{pct(c.satisfaction_rate)}"
        + _paren(_point_change(c.satisfaction_rate, p.satisfaction_rate, last))
        + f"，已评价{_num(c.rated)}件{reopened}。"
        f"超时办结{_num(c.overdue_resolved)}件，超时办结率{pct(c.overdue_rate)}"
        + _paren(_point_change(c.overdue_rate, p.overdue_rate, last))
        + (f"，另有{_num(c.overdue_open)}件超期未办结" if c.overdue_open else "")
        + f"。重发复发{_num(c.recurred)}件，重发复发率{pct(c.recurrence_rate)}。"
        f"主动发现问题{_num(c.proactive)}件，主动发现率{pct(c.proactive_rate)}"
        + _paren(_point_change(c.proactive_rate, p.proactive_rate, last))
        + "。"
    )
    return [first, second]


def _paren(text: str) -> str:
    return f"（{text}）" if text else ""


def _channel_text(d: ReportData) -> str:
    total = d.counts.total
    top = d.by_channel[:3]
    parts = [f"{s.label}（{_num(s.count)}件，占{_share(s.count, total)}）" for s in top]
    lead = f"从问题来源看，{_series(parts)}"
    if len(top) > 1:
        lead += f"是主要受理渠道，合计占{_share(sum(s.count for s in top), total)}"
    else:
        lead += "是唯一的受理渠道"
    proactive = [s for s in d.by_channel if s.proactive]
    if proactive:
        names = "、".join(s.label for s in proactive[:3])
        tail = (
            f"。{names}等主动发现渠道共发现问题{_num(d.counts.proactive)}件，"
            f"占{pct(d.counts.proactive_rate)}"
            + _paren(
                _point_change(d.counts.proactive_rate, d.previous.proactive_rate, _last(d.period))
            )
        )
    else:
        tail = "。本期没有通过主动发现渠道发现的问题，主动发现工作有待加强"
    return f"{lead}{tail}。"


def _category_text(d: ReportData) -> str:
    total = d.counts.total
    known = [s for s in d.by_category if s.key is not None]
    text = "从问题类别看，"
    if known:
        first = known[0]
        text += f"{first.label}问题最多，共{_num(first.count)}件，占{_share(first.count, total)}"
        rest = [f"{s.label}（{_num(s.count)}件，{_share(s.count, total)}）" for s in known[1:3]]
        if rest:
            text += f"；其次是{_series(rest)}"
        text += "。"
    guided = [s for s in known if s.key in ("COMPLAINT", "REPORT", "SERVICE_REQUEST")]
    if guided:
        text += (
            f"投诉、举报、办事类问题共{_num(sum(s.count for s in guided))}件，按规定引导至专门渠道"
            f"办理的{_num(d.counts.routed_out)}件。"
        )
    unclassified = next((s for s in d.by_category if s.key is None), None)
    if unclassified:
        text += f"另有{_num(unclassified.count)}件问题尚待分类。"
    return text


def _month_label(month: dt.date, period: Period) -> str:
    same_year = period.start.year == period.last_day.year
    return f"{month.month}月" if same_year else f"{month.year}年{month.month}月"


def _month_text(d: ReportData) -> str:
    months = d.by_month
    parts = [f"{_month_label(m.month, d.period)}{_num(m.received)}件" for m in months]
    text = f"分月看，受理量分别为{'、'.join(parts)}"
    received = [m.received for m in months]
    if len(months) >= 2:
        peak = max(months, key=lambda m: m.received)
        if all(a < b for a, b in itertools.pairwise(received)):
            shape = "逐月上升"
        elif all(a > b for a, b in itertools.pairwise(received)):
            shape = "逐月下降"
        else:
            shape = "有所波动"
        text += f"，{shape}，{_month_label(peak.month, d.period)}最多"
    text += "。"
    ratios = [Fraction(m.resolved, m.received) for m in months if m.received]
    if len(ratios) >= 2:
        text += f"各月受理问题目前的办结比例依次为{'、'.join(pct(r) for r in ratios)}"
        # Only said when true: later months have had less time to be worked through.
        if all(a >= b for a, b in itertools.pairwise(ratios)) and ratios[0] > ratios[-1]:
            text += "，越近的月份在办问题越多"
        text += "。"
    return text


def _region_text(d: ReportData) -> str:
    rows = [r for r in d.by_region if r.counts.total]
    if not rows:
        return "各地均未受理涉企问题。"
    by_total = sorted(rows, key=lambda r: (-r.counts.total, r.code))
    total = d.counts.total
    text = (
        f"分地区看，{by_total[0].name}受理量最多，共{_num(by_total[0].counts.total)}件，"
        f"占{_share(by_total[0].counts.total, total)}"
    )
    if len(by_total) > 1:
        text += f"；其次是{by_total[1].name}（{_num(by_total[1].counts.total)}件）"
    text += "。"
    rated = [r for r in rows if r.counts.resolution_rate is not None]
    if len(rated) > 1:
        best = max(rated, key=lambda r: (r.counts.resolution_rate or 0, r.counts.total))
        text += f"办结率最高的是{best.name}（{pct(best.counts.resolution_rate)}）。"
    late = [r for r in rows if r.counts.overdue_resolved]
    if late and d.counts.overdue_rate is not None:
        worst = max(late, key=lambda r: (r.counts.overdue_rate or 0, r.counts.total))
        text += f"超时办结率最高的是{worst.name}（{pct(worst.counts.overdue_rate)}）"
        diff = _percent_value(worst.counts.overdue_rate or Fraction(0)) - _percent_value(
            d.counts.overdue_rate
        )
        if diff > 0:
            text += f"，高于{d.region_name}整体{diff}个百分点，需重点关注"
        text += "。"
    return text


def _tags_text(d: ReportData) -> str:
    tags = d.top_tags
    if not tags:
        return "本期问题均未标注标签。"
    head = tags[:3]
    detail = "、".join(f"“{s.label}”{_num(s.count)}件" for s in head)
    shares = "、".join(_share(s.count, d.counts.total) for s in head)
    ranking = (
        f"排名前{len(tags)}位的依次是{_quote(s.label for s in tags)}。其中" if len(tags) > 1 else ""
    )
    return (
        f"按问题标签统计，{ranking}{detail}，{'分别' if len(head) > 1 else ''}"
        f"占问题总量的{shares}，是企业反映最集中的领域（一个问题可有多个标签）。"
    )


def _overdue_text(d: ReportData) -> str:
    c = d.counts
    shown = len(d.overdue)
    all_late = c.overdue_resolved + c.overdue_open
    if all_late == 0:
        return f"{_this(d.period)}受理的问题均在时限内办理，未发生超时办结。"
    text = f"{_this(d.period)}受理的问题中，超时办结{_num(c.overdue_resolved)}件"
    if c.overdue_open:
        text += f"；截至{_stamp(d.generated_at)}，另有{_num(c.overdue_open)}件超期尚未办结"
    text += "。"
    if shown < all_late:
        text += f"下表按超时天数列出最突出的{shown}件（共{_num(all_late)}件）。"
    return text


def _recurring_text(d: ReportData) -> str:
    c = d.counts
    if c.recurred == 0:
        return f"{_this(d.period)}已办结的问题中，尚未发现办结后重发复发的情况。"
    text = (
        f"{_this(d.period)}已办结的{_num(c.resolved)}件问题中，有{_num(c.recurred)}件在办结后"
        f"重发复发，重发复发率{pct(c.recurrence_rate)}。"
    )
    if len(d.recurring) < c.recurred:
        text += f"下表列出其中{len(d.recurring)}件。"
    return text


def _lists_text(d: ReportData) -> str:
    red, black = len(d.red_list), len(d.black_list)
    if red == black == 0:
        return f"{_this(d.period)}{d.region_name}辖区未新增红榜、黑榜记录。"
    return f"{_this(d.period)}{d.region_name}辖区新增红榜{red}项、黑榜{black}项，具体如下。"


def _advice(d: ReportData) -> list[str]:
    """Sentences driven by the numbers, not boilerplate: each appears only when it applies."""
    c = d.counts
    out: list[str] = []
    if c.overdue_open:
        out.append(
            f"紧盯超期问题。目前仍有{_num(c.overdue_open)}件问题超期未办结，请承办单位倒排时间、"
            f"加快办理，{d.center_name}实行逐件督办、办结销号。"
        )
    if c.overdue_resolved:
        worst = [r for r in d.by_region if r.counts.overdue_resolved]
        where = ""
        if worst:
            w = max(worst, key=lambda r: (r.counts.overdue_rate or 0, r.counts.total))
            where = f"，{w.name}超时办结率相对较高，要重点分析原因"
        out.append(
            f"提升办理时效。{_this(d.period)}超时办结{_num(c.overdue_resolved)}件{where}，"
            "严格落实交办、答复时限要求，对亮黄灯的问题提前介入。"
        )
    if d.top_tags:
        top = d.top_tags[0]
        out.append(
            f"聚焦共性诉求。“{top.label}”类问题{_num(top.count)}件，居各类问题之首，"
            "建议相关板块和部门梳理共性原因，从政策层面研究解决，做到解决一个、带动一片。"
        )
    if c.reopened:
        out.append(
            f"做好回访核实。对重新办理过的{_num(c.reopened)}件问题逐件回访，确认问题真正解决，"
            "防止“一办了之”。"
        )
    if c.recurred:
        out.append(
            f"防止问题反弹。对{_num(c.recurred)}件重发复发问题开展举一反三，查找办理中的薄弱环节，"
            "完善长效机制。"
        )
    previous = d.previous.proactive_rate
    if c.proactive_rate is not None and (previous is None or c.proactive_rate <= previous):
        out.append(
            f"强化主动发现。主动发现率为{pct(c.proactive_rate)}，要发挥督帮一体、驻企服务专员"
            "和大数据研判作用，变“企业找上门”为“服务送上门”。"
        )
    if not out:
        out.append("各项指标运行平稳，继续保持问题快速响应、高效办结的良好态势。")
    return out


# --- charts (reportlab drawings: SVG in the HTML, vector graphics in the PDF) -----------


def _string(x: float, y: float, text: str, **kw: Any) -> Any:
    kw.setdefault("fontName", FONT)
    kw.setdefault("fontSize", 9)
    kw.setdefault("fillColor", INK)
    return String(x, y, text, **kw)


def _swatch_legend(drawing: Drawing, x: float, y: float, items: Sequence[tuple[Any, str]]) -> None:
    for color, label in items:
        drawing.add(Rect(x, y - 1, 9, 9, fillColor=color, strokeColor=None))
        drawing.add(_string(x + 13, y, label, fontSize=8.5, fillColor=MUTED))
        x += 13 + _width(label, FONT, 8.5) + 16


def _kpi_cards(d: ReportData) -> Drawing:
    c, p, last = d.counts, d.previous, _last(d.period)

    def delta(now: Fraction | None, before: Fraction | None) -> str:
        return _point_change(now, before, last) or f"{last}无可比数据"

    cards = [
        ("受理问题", _num(c.total), "件", _count_change(c.total, p.total, last), BLUE),
        (
            "办结率",
            pct(c.resolution_rate),
            "",
            f"办结{_num(c.resolved)}件／办理{_num(c.handled)}件",
            BLUE,
        ),
        (
            "企业满意率",
            pct(c.satisfaction_rate),
            "",
            delta(c.satisfaction_rate, p.satisfaction_rate),
            GREEN,
        ),
        (
            "超时办结率",
            pct(c.overdue_rate),
            "",
            f"超时办结{_num(c.overdue_resolved)}件",
            ORANGE,
        ),
        ("重发复发率", pct(c.recurrence_rate), "", f"重发复发{_num(c.recurred)}件", ORANGE),
        (
            "主动发现率",
            pct(c.proactive_rate),
            "",
            f"主动发现{_num(c.proactive)}件",
            GREEN,
        ),
    ]
    gap, rows, cols, h = 10.0, 2, 3, 66.0
    w = (CHART_WIDTH - gap * (cols - 1)) / cols
    drawing = Drawing(CHART_WIDTH, rows * h + (rows - 1) * gap)
    for i, (label, value, unit, note, accent) in enumerate(cards):
        x = (i % cols) * (w + gap)
        y = (rows - 1 - i // cols) * (h + gap)
        drawing.add(Rect(x, y, w, h, fillColor=PANEL, strokeColor=None))
        drawing.add(Rect(x, y, 3.5, h, fillColor=accent, strokeColor=None))
        drawing.add(_string(x + 12, y + h - 17, label, fontSize=9.5, fillColor=MUTED))
        drawing.add(_string(x + 12, y + 25, value, fontName=NUM_BOLD, fontSize=20, fillColor=INK))
        if unit:
            drawing.add(_string(x + 14 + _width(value, NUM_BOLD, 20), y + 25, unit, fontSize=10))
        drawing.add(
            _string(x + 12, y + 9, _fit(note, FONT, 7.5, w - 18), fontSize=7.5, fillColor=MUTED)
        )
    return drawing


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Cut ``text`` with an ellipsis to fit ``width`` (labels must not overrun a chart)."""
    if _width(text, font, size) <= width:
        return text
    while text and _width(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _hbars(
    labels: Sequence[str],
    values: Sequence[int],
    notes: Sequence[str],
    fills: Sequence[Any],
    legend: Sequence[tuple[Any, str]] = (),
) -> Drawing:
    """Horizontal bars, largest on top, each with its number (and share) at its end."""
    row, top = 21.0, 22.0 if legend else 6.0
    label_width = min(140.0, max(_width(s, FONT, 9) for s in labels) + 10)
    note_width = max(_width(s, NUM_FONT, 8) for s in notes) + 8
    height = row * len(labels) + top + 6
    drawing = Drawing(CHART_WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = label_width, 6
    chart.width = CHART_WIDTH - label_width - note_width
    chart.height = row * len(labels)
    # reportlab draws the first category at the bottom: reverse so the largest is on top.
    chart.data = [list(reversed(values))]
    chart.categoryAxis.categoryNames = list(reversed(labels))
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 9
    chart.categoryAxis.labels.fillColor = INK
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -6
    chart.categoryAxis.strokeColor = RULE
    chart.categoryAxis.visibleTicks = False
    chart.valueAxis.visible = False
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(max(values), 1)
    chart.barWidth = 12
    chart.groupSpacing = 9
    chart.bars.strokeColor = None
    for i, fill in enumerate(reversed(fills)):
        chart.bars[(0, i)].fillColor = fill
    chart.barLabelArray = [list(reversed(notes))]
    chart.barLabelFormat = "values"  # take the labels from barLabelArray
    chart.barLabels.fontName = NUM_FONT
    chart.barLabels.fontSize = 8
    chart.barLabels.fillColor = INK
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 4
    drawing.add(chart)
    if legend:
        _swatch_legend(drawing, label_width, height - 12, legend)
    return drawing


def _channel_chart(d: ReportData) -> Drawing:
    total = d.counts.total
    items = d.by_channel
    return _hbars(
        [s.label for s in items],
        [s.count for s in items],
        [f"{_num(s.count)}  {_share(s.count, total)}" for s in items],
        [ORANGE if s.proactive else BLUE for s in items],
        legend=[(BLUE, "企业反映渠道"), (ORANGE, "主动发现渠道")],
    )


def _tags_chart(d: ReportData) -> Drawing:
    total = d.counts.total
    return _hbars(
        [s.label for s in d.top_tags],
        [s.count for s in d.top_tags],
        [f"{_num(s.count)}  {_share(s.count, total)}" for s in d.top_tags],
        [PALETTE[5]] * len(d.top_tags),
    )


def _region_chart(d: ReportData) -> Drawing:
    rows = d.by_region
    return _hbars(
        [r.name for r in rows],
        [r.counts.total for r in rows],
        [f"{_num(r.counts.total)}  {pct(r.counts.resolution_rate)}" for r in rows],
        [BLUE] * len(rows),
        legend=[(BLUE, "受理问题数　（数字：受理数  办结率）")],
    )


def _category_chart(d: ReportData) -> Drawing:
    items = [s for s in d.by_category if s.count]
    total = d.counts.total
    height = max(170.0, 22.0 * len(items) + 30)
    drawing = Drawing(CHART_WIDTH, height)
    size = 150.0
    donut = Doughnut()
    donut.x, donut.y = 30, (height - size) / 2
    donut.width = donut.height = size
    donut.data = [s.count for s in items]
    donut.labels = None
    donut.innerRadiusFraction = 0.58
    donut.slices.strokeColor = colors.white
    donut.slices.strokeWidth = 1.2
    donut.startAngle = 90
    donut.direction = "clockwise"
    for i in range(len(items)):
        donut.slices[i].fillColor = PALETTE[i % len(PALETTE)]
    drawing.add(donut)
    cx, cy = donut.x + size / 2, donut.y + size / 2
    drawing.add(
        _string(cx, cy - 2, _num(total), fontName=NUM_BOLD, fontSize=18, textAnchor="middle")
    )
    drawing.add(
        _string(cx, cy - 17, "问题总量（件）", fontSize=8, fillColor=MUTED, textAnchor="middle")
    )
    # The legend doubles as the table of the slices: name, count and share.
    x, y = 230.0, height / 2 + 22.0 * len(items) / 2 - 14
    for i, s in enumerate(items):
        drawing.add(Rect(x, y - 1, 10, 10, fillColor=PALETTE[i % len(PALETTE)], strokeColor=None))
        drawing.add(_string(x + 16, y, s.label, fontSize=10))
        drawing.add(
            _string(x + 150, y, _num(s.count), fontName=NUM_FONT, fontSize=9.5, textAnchor="end")
        )
        drawing.add(
            _string(
                x + 215,
                y,
                _share(s.count, total),
                fontName=NUM_FONT,
                fontSize=9.5,
                fillColor=MUTED,
                textAnchor="end",
            )
        )
        y -= 22
    return drawing


def _month_chart(d: ReportData) -> Drawing:
    months = d.by_month
    height = 200.0
    drawing = Drawing(CHART_WIDTH, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 24
    chart.width, chart.height = CHART_WIDTH - 50, height - 58
    chart.data = [[m.received for m in months], [m.resolved for m in months]]
    chart.categoryAxis.categoryNames = [_month_label(m.month, d.period) for m in months]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 9 if len(months) <= 12 else 7
    chart.categoryAxis.labels.dy = -4
    chart.categoryAxis.strokeColor = RULE
    chart.categoryAxis.visibleTicks = False
    peak = max((m.received for m in months), default=0)
    chart.valueAxis.valueMin = 0
    step = _nice_step(peak * 1.1 / 4)
    chart.valueAxis.valueMax = 4 * step
    chart.valueAxis.valueStep = step
    chart.valueAxis.labels.fontName = NUM_FONT
    chart.valueAxis.labels.fontSize = 8
    chart.valueAxis.labels.fillColor = MUTED
    chart.valueAxis.labelTextFormat = lambda v: _num(int(v))
    chart.valueAxis.strokeColor = None
    chart.valueAxis.visibleTicks = False
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = RULE
    chart.valueAxis.gridStrokeWidth = 0.5
    chart.bars.strokeColor = None
    chart.bars[0].fillColor = BLUE
    chart.bars[1].fillColor = GREEN
    chart.barSpacing = 2
    chart.groupSpacing = 12 if len(months) <= 4 else 6
    if len(months) <= 6:
        chart.barLabelFormat = lambda v: _num(int(v))
        chart.barLabels.fontName = NUM_FONT
        chart.barLabels.fontSize = 8
        chart.barLabels.fillColor = INK
        chart.barLabels.nudge = 6
    drawing.add(chart)
    _swatch_legend(drawing, 40, height - 14, [(BLUE, "受理问题"), (GREEN, "其中已办结")])
    return drawing


def _nice_step(value: float) -> float:
    """A round grid step (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten, at least 1)
    not below ``value``: four of them make the axis, with the tallest bar near the top."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
        if value <= m * power:
            return float(m * power)
    return float(10 * power)


# --- HTML --------------------------------------------------------------------------------

_SANS = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"
_SERIF = "'Noto Serif CJK SC','Source Han Serif SC','Songti SC','SimSun',serif"
# Fonts the drawings name, as the browser should pick them.
_SVG_FONTS = {
    FONT: {"family": _SANS},
    NUM_FONT: {"family": f"'Helvetica Neue',Helvetica,Arial,{_SANS}"},
    NUM_BOLD: {"family": f"'Helvetica Neue',Helvetica,Arial,{_SANS}", "weight": "bold"},
}


def _svg(drawing: Drawing, caption: str) -> str:
    _fonts()
    # useClip: no clipPath element, whose fixed id would clash between the report's charts.
    raw = str(renderSVG.drawToString(drawing, useClip=True, fontHacks=_SVG_FONTS, use_fp_str=True))
    svg = raw[raw.index("<svg") :]
    svg = svg.replace("<title>...</title>", f"<title>{html.escape(caption)}</title>", 1)
    svg = re.sub(r"\s*<desc>\.\.\.</desc>", "", svg, count=1)
    svg = svg.replace(' id="group"', "", 1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(caption)}" ', 1)


_CSS = string.Template(
    """
:root { --ink:#1f2d3d; --muted:#6b7785; --rule:#d5dce4; --panel:#f3f6fa; --red:#b8202a;
  --blue:#2e5e9e; }
* { box-sizing: border-box; }
body { margin:0; background:#e9edf2; color:var(--ink); font-family:$serif;
  font-size:16px; line-height:1.9; }
.page { max-width:860px; margin:24px auto; background:#fff; padding:56px 72px 64px;
  box-shadow:0 1px 4px rgba(0,0,0,.12); }
.masthead { text-align:center; color:var(--red); font-family:$sans; font-size:30px;
  font-weight:700; letter-spacing:.18em; margin:0; }
.masthead-rule { border:0; border-top:3px solid var(--red); margin:14px 0 2px; }
.masthead-rule.thin { border-top-width:1px; margin:0 0 30px; }
h1 { font-family:$sans; text-align:center; font-size:24px; line-height:1.5;
  margin:0 0 4px; }
.subtitle { text-align:center; font-family:$sans; font-size:20px; margin:0 0 6px; }
.meta { text-align:center; color:var(--muted); font-size:14px; margin:0 0 28px; }
h2 { font-family:$sans; font-size:19px; margin:34px 0 10px; padding-bottom:6px;
  border-bottom:1px solid var(--rule); }
p { text-indent:2em; margin:0 0 10px; text-align:justify; }
p.small { font-size:13px; color:var(--muted); line-height:1.7; }
figure { margin:18px 0 22px; text-align:center; }
figure svg { width:100%; max-width:680px; height:auto; }
figcaption, .caption { font-family:$sans; font-size:13px; color:var(--muted);
  text-align:center; margin-top:6px; }
table { width:100%; border-collapse:collapse; font-family:$sans; font-size:13px;
  line-height:1.5; margin:10px 0 4px; }
th { background:var(--panel); font-weight:600; border-top:2px solid var(--blue); }
th, td { padding:6px 7px; border-bottom:1px solid var(--rule); vertical-align:top; }
td.R { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.C, th { text-align:center; }
td.L { text-align:left; }
td.N { text-align:left; white-space:nowrap; font-size:12px;
  font-variant-numeric:tabular-nums; }
.table-block { margin:14px 0 22px; }
footer { margin-top:36px; padding-top:10px; border-top:1px solid var(--rule);
  color:var(--muted); font-size:12px; text-align:center; font-family:$sans; }
@media print {
  body { background:#fff; }
  .page { box-shadow:none; margin:0; max-width:none; padding:0; }
  figure, .table-block { break-inside:avoid; }
  h2 { break-after:avoid; }
}
"""
).substitute(sans=_SANS, serif=_SERIF)


def render_html(data: ReportData) -> str:
    """A self-contained HTML page: styles inline, charts as inline SVG, no external file."""
    e = html.escape
    title = title_of(data)
    period = period_title(data.period)
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}（{e(period)}）</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<main class="page">',
        f'<p class="masthead">{e(data.center_name)}</p>',
        '<hr class="masthead-rule"><hr class="masthead-rule thin">',
        f"<h1>{e(title)}</h1>",
        f'<p class="subtitle">（{e(period)}）</p>',
        f'<p class="meta">统计时段：{_date(data.period.start)}至{_date(data.period.last_day)}'
        f"　　数据截至：{_stamp(data.generated_at)}</p>",
    ]
    open_section = False
    for block in _document(data):
        if isinstance(block, _Heading):
            if open_section:
                out.append("</section>")
            out.append(f"<section><h2>{e(block.text)}</h2>")
            open_section = True
        elif isinstance(block, _Para):
            css = ' class="small"' if block.small else ""
            lead = f"<strong>{e(block.lead)}</strong>" if block.lead else ""
            out.append(f"<p{css}>{lead}{e(block.text)}</p>")
        elif isinstance(block, _Figure):
            out.append(
                f"<figure>{_svg(block.drawing, block.caption)}"
                f"<figcaption>{e(block.caption)}</figcaption></figure>"
            )
        else:
            out.append(_html_table(block))
    if open_section:
        out.append("</section>")
    out += [
        f"<footer>{e(data.center_name)}　·　{e(title)}（{e(period)}）</footer>",
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def _html_table(block: _Table) -> str:
    e = html.escape
    total = sum(block.widths)
    cols = "".join(f'<col style="width:{w * 100 / total:.1f}%">' for w in block.widths)
    head = "".join(f"<th>{e(c)}</th>" for c in block.columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{a}">{e(v)}</td>' for a, v in zip(block.align, row, strict=True))
        + "</tr>"
        for row in block.rows
    )
    return (
        f'<div class="table-block"><div class="caption">{e(block.caption)}</div>'
        f"<table><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


# --- PDF ---------------------------------------------------------------------------------


def _pdf_text(text: str) -> str:
    """Paragraph markup for ``text``. Curly quotes are set in Helvetica: STSong-Light gives
    them a full-width advance that viewers without the Adobe font fill with a narrow glyph,
    leaving a gap; the Latin glyph is what the HTML shows as well."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"([“”‘’])", rf'<font name="{NUM_FONT}">\1</font>', escaped)


class _Heading2(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """A section heading in faux bold: the CID font has no bold face, so the glyphs are
    filled and stroked (text render mode 2)."""

    def __init__(self, text: str, size: float = 14, color: Any = INK) -> None:
        super().__init__()
        self.text, self.size, self.color = text, size, color
        # platypus moves a heading to the next page together with what follows it.
        self.keepWithNext = True
        self.spaceBefore, self.spaceAfter = 14, 6

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, self.size * 1.6

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        canvas.setFillColor(self.color)
        canvas.setStrokeColor(self.color)
        canvas.setLineWidth(self.size * 0.035)
        text = canvas.beginText(0, self.size * 0.45)
        text.setTextRenderMode(2)
        text.setFont(FONT, self.size)
        text.textOut(self.text)
        canvas.drawText(text)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.6)
        canvas.line(0, 0, self.width, 0)
        canvas.restoreState()


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle(
        "body",
        fontName=FONT,
        fontSize=11,
        leading=19,
        firstLineIndent=22,
        alignment=TA_JUSTIFY,
        wordWrap="CJK",
        textColor=INK,
        spaceAfter=5,
    )
    return {
        "body": body,
        "small": ParagraphStyle(
            "small", parent=body, fontSize=8.5, leading=13.5, textColor=MUTED, spaceBefore=6
        ),
        "caption": ParagraphStyle(
            "caption",
            parent=body,
            fontSize=9,
            leading=12,
            firstLineIndent=0,
            alignment=TA_CENTER,
            textColor=MUTED,
            spaceBefore=4,
            spaceAfter=10,
        ),
        "masthead": ParagraphStyle(
            "masthead",
            parent=body,
            fontSize=24,
            leading=30,
            firstLineIndent=0,
            alignment=TA_CENTER,
            textColor=RED,
        ),
        "title": ParagraphStyle(
            "title",
            parent=body,
            fontSize=18,
            leading=26,
            firstLineIndent=0,
            alignment=TA_CENTER,
        ),
        "meta": ParagraphStyle(
            "meta",
            parent=body,
            fontSize=9.5,
            leading=14,
            firstLineIndent=0,
            alignment=TA_CENTER,
            textColor=MUTED,
            spaceAfter=14,
        ),
        "cell": ParagraphStyle(
            "cell", parent=body, fontSize=8.5, leading=11.5, firstLineIndent=0, spaceAfter=0
        ),
        "head": ParagraphStyle(
            "head",
            parent=body,
            fontSize=8.5,
            leading=11.5,
            firstLineIndent=0,
            alignment=TA_CENTER,
            spaceAfter=0,
        ),
    }


class _Rule(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """The red double rule under the masthead of a government document."""

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, 8

    def draw(self) -> None:
        canvas = self.canv
        canvas.setStrokeColor(RED)
        canvas.setLineWidth(2.2)
        canvas.line(0, 6, self.width, 6)
        canvas.setLineWidth(0.6)
        canvas.line(0, 2, self.width, 2)


def render_pdf(data: ReportData) -> bytes:
    """An A4 PDF of the same document. Deterministic: the same data gives the same bytes."""
    _fonts()
    styles = _styles()
    title = title_of(data)
    period = period_title(data.period)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=23 * mm,
        topMargin=24 * mm,
        bottomMargin=22 * mm,
        title=f"{title}（{period}）",
        author=data.center_name,
        subject=f"{data.region_name} {data.period.label}",
        creator="closedloop",
        # invariant: no creation date or random document id, so output is reproducible.
        invariant=True,
    )
    width = doc.width
    story: list[Any] = [
        Paragraph(_pdf_text(data.center_name), styles["masthead"]),
        Spacer(1, 6),
        _Rule(),
        Spacer(1, 18),
        Paragraph(_pdf_text(title), styles["title"]),
        Paragraph(f"（{html.escape(period)}）", styles["title"]),
        Spacer(1, 4),
        Paragraph(
            f"统计时段：{_date(data.period.start)}至{_date(data.period.last_day)}"
            f"　　数据截至：{_stamp(data.generated_at)}",
            styles["meta"],
        ),
    ]
    for block in _document(data):
        if isinstance(block, _Heading):
            story.append(_Heading2(block.text))
        elif isinstance(block, _Para):
            story.append(
                Paragraph(
                    _pdf_text(block.lead + block.text), styles["small" if block.small else "body"]
                )
            )
        elif isinstance(block, _Figure):
            drawing = block.drawing
            drawing.hAlign = "CENTER"
            story.append(
                KeepTogether(
                    [
                        Spacer(1, 4),
                        drawing,
                        Paragraph(_pdf_text(block.caption), styles["caption"]),
                    ]
                )
            )
        else:
            story.extend(_pdf_table(block, width, styles))

    def decorate(canvas: Any, document: Any) -> None:
        canvas.saveState()
        page = canvas.getPageNumber()
        canvas.setFont(FONT, 9)
        canvas.setFillColor(MUTED)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, f"— {page} —")
        if page > 1:
            canvas.drawString(doc.leftMargin, A4[1] - 15 * mm, f"{title}（{period}）")
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.5)
            canvas.line(doc.leftMargin, A4[1] - 17 * mm, A4[0] - doc.rightMargin, A4[1] - 17 * mm)
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _pdf_table(block: _Table, width: float, styles: dict[str, ParagraphStyle]) -> list[Any]:
    total = sum(block.widths)
    widths = [width * w / total for w in block.widths]
    alignments = {"L": TA_LEFT, "C": TA_CENTER, "R": TA_RIGHT, "N": TA_LEFT}
    cell_styles = {
        a: ParagraphStyle(f"cell{a}", parent=styles["cell"], alignment=alignments[a])
        for a in alignments
    }
    rows: list[list[Any]] = [[Paragraph(_pdf_text(c), styles["head"]) for c in block.columns]]
    rows += [
        [
            Paragraph(_pdf_text(value), cell_styles[a])
            for a, value in zip(block.align, row, strict=True)
        ]
        for row in block.rows
    ]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), PANEL),
                ("LINEABOVE", (0, 0), (-1, 0), 1.2, BLUE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return [Paragraph(_pdf_text(block.caption), styles["caption"]), table, Spacer(1, 8)]


__all__ = [
    "Counts",
    "IssueLine",
    "ListLine",
    "MonthCount",
    "RegionCounts",
    "ReportData",
    "ReportNotFound",
    "Share",
    "channel_label",
    "gather",
    "period_title",
    "render_html",
    "render_pdf",
    "title_of",
]
