"""Authenticated downloads of the analysis report: ``/export/report.html`` and
``/export/report.pdf`` with ``?region=3305&period=2026-Q1``.

The auth middleware resolves the caller for every path under ``/export``. A region that
does not exist, is out of the caller's scope, or an anonymous caller all get the same 404:
a report never reveals whether a region it may not read has data. A period that does not
parse is the caller's mistake and says so (400).
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from closedloop import i18n
from closedloop.authz.roles import ANONYMOUS, Principal
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.periods import InvalidPeriod, parse_period
from closedloop.http.exports import freshness_headers
from closedloop.services.reports.analysis import (
    ReportData,
    ReportNotFound,
    gather,
    period_title,
    render_html,
    render_pdf,
    title_of,
)


class _Runtime(Protocol):
    """What a download needs of the app's runtime (``request.app.state.runtime``); a
    protocol, so this module does not import ``closedloop.http.app``, which mounts it."""

    db: Database
    clock: Clock


# The content depends on who asks: no shared cache may keep it.
_PRIVATE = {"Cache-Control": "private, no-store"}


def _error(status: int, code: str, zh: str, en: str, locale: str) -> JSONResponse:
    message = en if locale == i18n.EN else zh
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=_PRIVATE
    )


async def _gather(request: Request) -> ReportData | JSONResponse:
    locale = i18n.negotiate(request.headers.get("accept-language"))
    region = request.query_params.get("region", "").strip()
    if not region:
        return _error(
            400,
            "REGION_REQUIRED",
            "缺少参数 region（行政区划代码，如 3305）",
            "missing parameter region (a region code, e.g. 3305)",
            locale,
        )
    try:
        period = parse_period(request.query_params.get("period", ""))
    except InvalidPeriod as exc:
        return _error(400, exc.code, exc.zh, exc.en, locale)
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    runtime: _Runtime = request.app.state.runtime
    try:
        return await gather(runtime.db, principal, region, period, now=runtime.clock.now())
    except ReportNotFound:
        return _error(404, "NOT_FOUND", "未找到该地区", "region not found", locale)


def _freshness(data: ReportData) -> dict[str, str]:
    """Where the numbers were read and as of when (the report's 数据截至 says the same)."""
    return freshness_headers(data.freshness.from_replica, data.as_of)


def _filename(data: ReportData, extension: str) -> str:
    """An ASCII name for old clients and the Chinese title for the rest (RFC 6266)."""
    slug = data.period.label.replace("..", "_")
    ascii_name = f"report-{data.region_code}-{slug}.{extension}"
    title = f"{title_of(data)}（{period_title(data.period)}）.{extension}"
    return f"filename=\"{ascii_name}\"; filename*=UTF-8''{quote(title)}"


async def report_html(request: Request) -> Response:
    data = await _gather(request)
    if isinstance(data, Response):
        return data
    # Rendering the charts and tables is CPU work: off the event loop, as the PDF.
    return HTMLResponse(
        await asyncio.to_thread(render_html, data),
        headers={
            **_PRIVATE,
            **_freshness(data),
            "Content-Disposition": f"inline; {_filename(data, 'html')}",
        },
    )


async def report_pdf(request: Request) -> Response:
    data = await _gather(request)
    if isinstance(data, Response):
        return data
    # Laying out the PDF is CPU work of a few hundred milliseconds: off the event loop.
    body = await asyncio.to_thread(render_pdf, data)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            **_PRIVATE,
            **_freshness(data),
            "Content-Disposition": f"attachment; {_filename(data, 'pdf')}",
        },
    )


routes: list[Route] = [
    Route("/export/report.html", report_html, methods=["GET"]),
    Route("/export/report.pdf", report_pdf, methods=["GET"]),
]
