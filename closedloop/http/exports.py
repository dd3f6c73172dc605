"""Scores and dashboards as CSV and XLSX files, over authenticated HTTP GET:

- ``/export/scores.{csv,xlsx}?scheme=&targetKind=&region=&period=``
- ``/export/dashboard.{csv,xlsx}?region=&period=``

The same services and scope rules as the GraphQL fields: ``AuthMiddleware`` resolves the
caller for ``/export`` paths (a bad token is a 401 there); an anonymous caller, a region
outside the caller's scope and an unknown region all answer 404, so an export never tells
that a region exists. Malformed parameters are a 400 with the same error codes as GraphQL.

Headers are Chinese (the files go to reform offices); CSV is UTF-8 with a byte-order mark
so that spreadsheet programs read the Chinese correctly.

Exports tolerate lag: a streaming replica in rotation serves them (the services'
``Database.read_tolerant``). Every file ends with a sheet 数据说明 saying where its figures
were read and as of when (a replica's last replayed commit; on the primary, the moment of
the export), and the response says the same in ``X-Data-Source`` and ``X-Data-As-Of``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]  # no stubs in the dev set
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from closedloop import i18n
from closedloop.authz.roles import ANONYMOUS, Principal
from closedloop.db import tables as t
from closedloop.db.replicas import Freshness
from closedloop.domain.issues import IssueState
from closedloop.domain.periods import InvalidPeriod, Period, parse_period
from closedloop.domain.regions import is_valid_code
from closedloop.domain.schemes import DEFAULT_SCHEME, Scheme, UnknownScheme
from closedloop.domain.scoring import RESULT_STATUS_LABELS
from closedloop.schema.freshness import DataFreshness
from closedloop.services import tenancy
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.services.evaluation import scores as score_service
from closedloop.services.evaluation.dashboard import Dashboard, Figures
from closedloop.services.evaluation.record_queries import ListEntryRow
from closedloop.services.evaluation.targets import TargetKind
from closedloop.services.schemes.catalog import SchemeCatalog

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")

Cell = str | int | Decimal | None


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


class BadRequest(Exception):
    def __init__(self, code: str, field: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.field = field
        self.detail = detail


# --- file writers ----------------------------------------------------------------------------


def to_csv(sheets: Sequence[Sheet]) -> bytes:
    """The first sheet as CSV; further sheets follow after a blank line and their title."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, sheet in enumerate(sheets):
        if n:
            writer.writerow([])
            writer.writerow([sheet.title])
        writer.writerow(sheet.header)
        writer.writerows(["" if v is None else v for v in row] for row in sheet.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(title=sheet.title)
        ws.append(list(sheet.header))
        for row in sheet.rows:
            ws.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def freshness_sheet(read: DataFreshness) -> Sheet:
    """Where the file's figures were read and as of when (the last sheet of every file)."""
    source = "只读副本（replica）" if read.from_replica else "主库（primary）"
    return Sheet(
        "数据说明",
        ["项目", "内容"],
        [["数据来源", source], ["数据截至", read.as_of.isoformat(timespec="seconds")]],
    )


def freshness_headers(from_replica: bool, as_of: dt.datetime) -> dict[str, str]:
    """Where an export was read, on its response: ``X-Data-Source`` (replica / primary)
    and ``X-Data-As-Of`` (every download under ``/export``)."""
    return {
        "X-Data-Source": "replica" if from_replica else "primary",
        "X-Data-As-Of": as_of.isoformat(),
    }


async def _file(
    sheets: Sequence[Sheet], fmt: str, name: str, freshness: Freshness, now: dt.datetime
) -> Response:
    read = DataFreshness.of(freshness, now)
    # Writing a workbook is CPU work: off the event loop.
    body = await asyncio.to_thread(
        to_csv if fmt == "csv" else to_xlsx, [*sheets, freshness_sheet(read)]
    )
    return Response(
        body,
        media_type=CSV_TYPE if fmt == "csv" else XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
            **freshness_headers(read.from_replica, read.as_of),
        },
    )


# --- parameters ------------------------------------------------------------------------------


def _param(request: Request, name: str, default: str | None = None) -> str:
    value = request.query_params.get(name, default)
    if value is None or not value.strip():
        raise BadRequest("INVALID_ARGUMENT", name, f"{name} is required")
    return value.strip()


def _region(request: Request) -> str:
    code = _param(request, "region")
    if not is_valid_code(code):
        raise BadRequest("INVALID_REGION_CODE", "region", f"region={code!r}")
    return code


def _period(request: Request) -> Period:
    try:
        return parse_period(_param(request, "period"))
    except InvalidPeriod as exc:
        raise BadRequest("INVALID_PERIOD", "period", exc.zh) from exc


async def _scheme(request: Request, period: Period) -> Scheme:
    """The scheme in force for ``period`` (its active version, else its file)."""
    catalog: SchemeCatalog = request.app.state.runtime.schemes
    try:
        return await catalog.scheme(_param(request, "scheme", DEFAULT_SCHEME), period)
    except UnknownScheme as exc:
        raise BadRequest("UNKNOWN_SCHEME", "scheme", exc.zh) from exc


def _target_kind(request: Request) -> TargetKind:
    raw = _param(request, "targetKind")
    try:
        return TargetKind(raw.upper())
    except ValueError:
        raise BadRequest("INVALID_ARGUMENT", "targetKind", "DEPARTMENT or REGION") from None


def _not_found() -> Response:
    return JSONResponse({"error": {"code": "NOT_FOUND", "message": "未找到 / not found"}}, 404)


def _bad(exc: BadRequest) -> Response:
    message = i18n.label(exc.code, i18n.ZH, "RequestErrorCode")
    return JSONResponse(
        {"error": {"code": exc.code, "field": exc.field, "message": f"{message}：{exc.detail}"}},
        status_code=400,
    )


def _principal(request: Request) -> Principal:
    found = getattr(request.state, "principal", ANONYMOUS)
    return found if isinstance(found, Principal) else ANONYMOUS


# --- scores ----------------------------------------------------------------------------------


def score_sheet(board: score_service.GroupScores) -> Sheet:
    scheme = board.scheme
    header = ["排名", "对象类型", "代码", "名称", "总分", "指标得分小计"]
    for adjustment in scheme.adjustments:
        header += [f"{adjustment.label.zh}（次）", f"{adjustment.label.zh}（分）"]
    header += [
        "问题总数",
        "主动发现问题数",
        "办理问题总数",
        "办结问题数",
        "超时办结问题数",
        "重发复发数",
        "好评数（含未评价）",
    ]
    for indicator in scheme.indicators:
        name = indicator.label.zh
        header += [
            f"{name}·得分",
            f"{name}·扣分",
            f"{name}·比率（%）",
            f"{name}·名次",
            f"{name}·状态",
        ]
    kind = "部门" if board.group.kind is TargetKind.DEPARTMENT else "地区"
    rows: list[list[Cell]] = []
    for entry in board.entries:
        s, c = entry.score, entry.counters
        row: list[Cell] = [
            s.rank,
            kind,
            entry.target.key,
            entry.target.name_zh,
            s.total,
            s.subtotal,
        ]
        for result in s.adjustments:
            row += [result.count, result.points]
        row += [
            c.total,
            c.proactive,
            c.handled,
            c.resolved,
            c.overdue_resolved,
            c.recurred,
            c.good_ratings(scheme.satisfied_grades),
        ]
        for r in s.indicators:
            row += [r.points, r.deduction, r.rate, r.rank, RESULT_STATUS_LABELS[r.status].zh]
        rows.append(row)
    return Sheet("评价结果", header, rows)


async def export_scores(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    principal = _principal(request)
    if fmt not in FORMATS or principal.is_anonymous:
        return _not_found()
    try:
        kind = _target_kind(request)
        region = _region(request)
        period = _period(request)
        scheme = await _scheme(request, period)
    except BadRequest as exc:
        return _bad(exc)
    runtime = request.app.state.runtime
    boards = await score_service.group_scores(
        runtime.db, principal, [scheme], kind, region, [period]
    )
    if boards is None:
        return _not_found()
    name = f"scores-{scheme.key}-{kind.value.lower()}-{region}-{period.label}"
    return await _file(
        [score_sheet(boards[0])],
        fmt,
        name.replace("..", "_"),
        boards[0].freshness,
        runtime.clock.now(),
    )


# --- dashboard -------------------------------------------------------------------------------

FIGURE_HEADER = [
    "问题总数",
    "主动发现",
    "办理问题总数",
    "办结",
    "未办结",
    "合并重复件",
    "超时办结",
    "重发复发",
    "好评数（含未评价）",
    "黄灯",
    "红灯",
    "办结率（%）",
    "满意率（%）",
    "超时办结率（%）",
    "重发复发率（%）",
    "主动发现率（%）",
]


def _figures(f: Figures) -> list[Cell]:
    c = f.counters
    return [
        c.total,
        c.proactive,
        c.handled,
        c.resolved,
        f.open,
        f.merged,
        c.overdue_resolved,
        c.recurred,
        f.good_ratings(),
        f.yellow,
        f.red,
        f.resolution_rate(),
        f.satisfaction_rate(),
        f.overdue_rate(),
        f.recurrence_rate(),
        f.proactive_rate(),
    ]


def _label(value: Any, enum_name: str) -> str:
    return i18n.label(value, i18n.ZH, enum_name)


def dashboard_sheets(
    d: Dashboard, department_names: dict[int, str], region_names: dict[str, str]
) -> list[Sheet]:
    header = ["分组", "代码", "名称", *FIGURE_HEADER]
    rows: list[list[Cell]] = [
        ["合计", d.region.code, d.region.name, *_figures(d.totals)],
        ["本级", d.region.code, f"{d.region.name}（本级）", *_figures(d.local)],
    ]
    rows += [["下级地区", r.code, r.name, *_figures(f)] for r, f in d.children]
    rows += [
        ["承办层级", tier.value, _label(tier, "RegionLevel"), *_figures(f)] for tier, f in d.by_tier
    ]
    rows += [["板块", u.key, u.name_zh, *_figures(u.figures)] for u in d.boards]
    rows += [["部门", u.key, u.name_zh, *_figures(u.figures)] for u in d.departments]
    rows += [["月度趋势", m.label, m.label, *_figures(f)] for m, f in d.trend]
    blank: list[Cell] = [None] * (len(FIGURE_HEADER) - 1)
    rows += [
        ["状态", state.value, _label(state, "IssueState"), count, *blank]
        for state, count in d.by_state
        if state is not IssueState.MERGED
    ]
    rows += [["热点标签", tag, tag, count, *blank] for tag, count in d.top_tags]

    def target_name(e: ListEntryRow) -> str:
        if e.department_id is not None:
            dept = department_names.get(e.department_id, "")
            return f"{region_names.get(e.region_code, e.region_code)}{dept}"
        return region_names.get(e.region_code, e.region_code)

    lists = [
        [
            _label(e.kind, "ListEntryKind"),
            "部门" if e.target_kind is TargetKind.DEPARTMENT else "地区",
            e.region_code,
            target_name(e),
            e.reason,
            e.listed_on.isoformat(),
            e.added_by_name,
        ]
        for e in (*d.red_list, *d.black_list)
    ]
    return [
        Sheet("驾驶舱", header, rows),
        Sheet(
            "红黑榜", ["榜单", "对象类型", "地区代码", "对象", "理由", "列入日期", "录入人"], lists
        ),
    ]


async def export_dashboard(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    principal = _principal(request)
    if fmt not in FORMATS or principal.is_anonymous:
        return _not_found()
    try:
        region = _region(request)
        period = _period(request)
    except BadRequest as exc:
        return _bad(exc)
    runtime = request.app.state.runtime
    found = await dashboard_service.dashboard(
        runtime.db, principal, region, period, runtime.clock.now()
    )
    if found is None:
        return _not_found()
    entries = (*found.red_list, *found.black_list)
    # The list entries' targets by name: two look-ups for all of them.
    async with runtime.db.read_reference() as conn:
        regions = await tenancy.regions_by_code(conn, sorted({e.region_code for e in entries}))
        departments = await tenancy.units_by_id(
            conn, t.department, sorted({e.department_id for e in entries if e.department_id})
        )
    sheets = dashboard_sheets(
        found,
        {k: v.name_zh for k, v in departments.items()},
        {k: v.name for k, v in regions.items()},
    )
    name = f"dashboard-{region}-{period.label}".replace("..", "_")
    return await _file(sheets, fmt, name, found.freshness, runtime.clock.now())


routes: list[Route] = [
    Route("/export/scores.{fmt}", export_scores, methods=["GET"]),
    Route("/export/dashboard.{fmt}", export_dashboard, methods=["GET"]),
]

__all__ = ["routes"]
