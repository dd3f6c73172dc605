"""The charts: reportlab drawings, rendered to inline SVG in the HTML and as vector graphics
into the PDF, so both formats share one piece of chart code."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.doughnut import Doughnut
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors

from closedloop.services.reports.analysis.data import ReportData
from closedloop.services.reports.analysis.style import (
    BLUE,
    CHART_WIDTH,
    FONT,
    GREEN,
    INK,
    MUTED,
    NUM_BOLD,
    NUM_FONT,
    ORANGE,
    PALETTE,
    PANEL,
    RULE,
    text_width,
)
from closedloop.services.reports.analysis.wording import (
    count_change,
    last_period,
    month_label,
    num,
    pct,
    point_change,
    share_text,
)

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
        x += 13 + text_width(label, FONT, 8.5) + 16


def kpi_cards(d: ReportData) -> Drawing:
    c, p, last = d.counts, d.previous, last_period(d.period)

    def delta(now: Fraction | None, before: Fraction | None) -> str:
        return point_change(now, before, last) or f"{last}无可比数据"

    cards = [
        ("受理问题", num(c.total), "件", count_change(c.total, p.total, last), BLUE),
        (
            "办结率",
            pct(c.resolution_rate),
            "",
            f"办结{num(c.resolved)}件／办理{num(c.handled)}件",
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
            f"超时办结{num(c.overdue_resolved)}件",
            ORANGE,
        ),
        ("重发复发率", pct(c.recurrence_rate), "", f"重发复发{num(c.recurred)}件", ORANGE),
        (
            "主动发现率",
            pct(c.proactive_rate),
            "",
            f"主动发现{num(c.proactive)}件",
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
            drawing.add(
                _string(x + 14 + text_width(value, NUM_BOLD, 20), y + 25, unit, fontSize=10)
            )
        drawing.add(
            _string(x + 12, y + 9, _fit(note, FONT, 7.5, w - 18), fontSize=7.5, fillColor=MUTED)
        )
    return drawing


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Cut ``text`` with an ellipsis to fit ``width`` (labels must not overrun a chart)."""
    if text_width(text, font, size) <= width:
        return text
    while text and text_width(text + "…", font, size) > width:
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
    label_width = min(140.0, max(text_width(s, FONT, 9) for s in labels) + 10)
    note_width = max(text_width(s, NUM_FONT, 8) for s in notes) + 8
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


def channel_chart(d: ReportData) -> Drawing:
    total = d.counts.total
    items = d.by_channel
    return _hbars(
        [s.label for s in items],
        [s.count for s in items],
        [f"{num(s.count)}  {share_text(s.count, total)}" for s in items],
        [ORANGE if s.proactive else BLUE for s in items],
        legend=[(BLUE, "企业反映渠道"), (ORANGE, "主动发现渠道")],
    )


def tags_chart(d: ReportData) -> Drawing:
    total = d.counts.total
    return _hbars(
        [s.label for s in d.top_tags],
        [s.count for s in d.top_tags],
        [f"{num(s.count)}  {share_text(s.count, total)}" for s in d.top_tags],
        [PALETTE[5]] * len(d.top_tags),
    )


def region_chart(d: ReportData) -> Drawing:
    rows = d.by_region
    return _hbars(
        [r.name for r in rows],
        [r.counts.total for r in rows],
        [f"{num(r.counts.total)}  {pct(r.counts.resolution_rate)}" for r in rows],
        [BLUE] * len(rows),
        legend=[(BLUE, "受理问题数　（数字：受理数  办结率）")],
    )


def category_chart(d: ReportData) -> Drawing:
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
        _string(cx, cy - 2, num(total), fontName=NUM_BOLD, fontSize=18, textAnchor="middle")
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
            _string(x + 150, y, num(s.count), fontName=NUM_FONT, fontSize=9.5, textAnchor="end")
        )
        drawing.add(
            _string(
                x + 215,
                y,
                share_text(s.count, total),
                fontName=NUM_FONT,
                fontSize=9.5,
                fillColor=MUTED,
                textAnchor="end",
            )
        )
        y -= 22
    return drawing


def month_chart(d: ReportData) -> Drawing:
    months = d.by_month
    height = 200.0
    drawing = Drawing(CHART_WIDTH, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 24
    chart.width, chart.height = CHART_WIDTH - 50, height - 58
    chart.data = [[m.received for m in months], [m.resolved for m in months]]
    chart.categoryAxis.categoryNames = [month_label(m.month, d.period) for m in months]
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
    chart.valueAxis.labelTextFormat = lambda v: num(int(v))
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
        chart.barLabelFormat = lambda v: num(int(v))
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
