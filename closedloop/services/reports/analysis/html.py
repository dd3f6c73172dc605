"""The report as one self-contained HTML page (inline SVG charts, no external resources)."""

from __future__ import annotations

import html
import re
import string

from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Drawing

from closedloop.services.reports.analysis.data import ReportData
from closedloop.services.reports.analysis.document import (
    FigureBlock,
    HeadingBlock,
    ParaBlock,
    TableBlock,
    document_blocks,
    title_of,
)
from closedloop.services.reports.analysis.style import FONT, NUM_BOLD, NUM_FONT, register_fonts
from closedloop.services.reports.analysis.wording import date_text, period_title, stamp

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
    register_fonts()
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
        f'<p class="meta">统计时段：{date_text(data.period.start)}'
        f"至{date_text(data.period.last_day)}"
        f"　　数据截至：{stamp(data.as_of)}</p>",
    ]
    open_section = False
    for block in document_blocks(data):
        if isinstance(block, HeadingBlock):
            if open_section:
                out.append("</section>")
            out.append(f"<section><h2>{e(block.text)}</h2>")
            open_section = True
        elif isinstance(block, ParaBlock):
            css = ' class="small"' if block.small else ""
            lead = f"<strong>{e(block.lead)}</strong>" if block.lead else ""
            out.append(f"<p{css}>{lead}{e(block.text)}</p>")
        elif isinstance(block, FigureBlock):
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


def _html_table(block: TableBlock) -> str:
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
