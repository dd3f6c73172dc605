"""The report as a PDF (reportlab). Chinese text is set in Noto Serif SC, embedded as a
subset of the glyphs the document uses (``fonts``): it reads the same on a machine without
any Chinese font."""

from __future__ import annotations

import html
import io
import re
from typing import Any

from reportlab.graphics.shapes import Group, String, UserNode
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from closedloop.services.reports.analysis import fonts
from closedloop.services.reports.analysis.data import ReportData
from closedloop.services.reports.analysis.document import (
    Block,
    FigureBlock,
    HeadingBlock,
    ParaBlock,
    TableBlock,
    document_blocks,
    title_of,
)
from closedloop.services.reports.analysis.style import (
    BLUE,
    FONT,
    INK,
    MUTED,
    NUM_FONT,
    PANEL,
    RED,
    RULE,
    register_fonts,
)
from closedloop.services.reports.analysis.wording import date_text, period_title, stamp

# --- PDF ---------------------------------------------------------------------------------


def _pdf_text(text: str) -> str:
    """Paragraph markup for ``text``. Curly quotes are set in Helvetica: the CJK font gives
    them a full-width advance, which leaves a gap after a narrow glyph; the Latin glyph is
    what the HTML shows as well."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"([“”‘’])", rf'<font name="{NUM_FONT}">\1</font>', escaped)


class _Heading2(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    """A section heading in faux bold: the font has no bold face here, so the glyphs are
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
    register_fonts()
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
    meta = (
        f"统计时段：{date_text(data.period.start)}至{date_text(data.period.last_day)}"
        f"　　数据截至：{stamp(data.as_of)}"
    )
    blocks = list(document_blocks(data))
    story: list[Any] = [
        Paragraph(_pdf_text(data.center_name), styles["masthead"]),
        Spacer(1, 6),
        _Rule(),
        Spacer(1, 18),
        Paragraph(_pdf_text(title), styles["title"]),
        Paragraph(f"（{html.escape(period)}）", styles["title"]),
        Spacer(1, 4),
        Paragraph(meta, styles["meta"]),
    ]
    for block in blocks:
        if isinstance(block, HeadingBlock):
            story.append(_Heading2(block.text))
        elif isinstance(block, ParaBlock):
            story.append(
                Paragraph(
                    _pdf_text(block.lead + block.text), styles["small" if block.small else "body"]
                )
            )
        elif isinstance(block, FigureBlock):
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

    text = "".join((data.center_name, title, period, meta, _text_of(blocks)))
    with fonts.embedded(text):
        doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _text_of(blocks: list[Block]) -> str:
    """Every character the blocks put on the page, the charts' labels included."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, HeadingBlock):
            parts.append(block.text)
        elif isinstance(block, ParaBlock):
            parts += (block.lead, block.text)
        elif isinstance(block, FigureBlock):
            parts.append(block.caption)
            parts += drawn_strings(block.drawing)
        else:
            parts += (block.caption, *block.columns, *(v for row in block.rows for v in row))
    return "".join(parts)


def drawn_strings(node: Any) -> list[str]:
    """The strings a drawing draws, down through charts, axes and labels (user nodes that
    make their shapes when drawn)."""
    if isinstance(node, String):
        return [node.text]
    if isinstance(node, UserNode):
        return drawn_strings(node.provideNode())
    if isinstance(node, Group):
        return [text for child in node.getContents() for text in drawn_strings(child)]
    return []


def _pdf_table(block: TableBlock, width: float, styles: dict[str, ParagraphStyle]) -> list[Any]:
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
