"""What the HTML, the PDF and the charts share of the look: fonts, colours, the chart width,
and text widths measured with the PDF's font."""

from __future__ import annotations

from functools import cache

from reportlab.lib import colors, textsplit
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import (
    paragraph,
)

from closedloop.services.reports.analysis import fonts

FONT = fonts.FONT
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
def register_fonts() -> None:
    # Registered once per process: the layout font (``fonts``); the PDF embeds the glyphs
    # its text uses, the HTML's charts (SVG) name the browser's fonts.
    fonts.register()
    # reportlab's CJK line breaking hangs a character that cannot start a line into the
    # margin, but its list misses the full-width Chinese punctuation (，；：！？”), so a
    # line could begin with a comma. Both splitters (one for single-style paragraphs, one
    # for mixed) read their module's copy at wrap time: extend each once.
    for module in (textsplit, paragraph):
        missing = "".join(ch for ch in _NO_LINE_START if ch not in module.ALL_CANNOT_START)
        module.ALL_CANNOT_START += missing


def text_width(text: str, font: str, size: float) -> float:
    register_fonts()
    return float(pdfmetrics.stringWidth(text, font, size))
