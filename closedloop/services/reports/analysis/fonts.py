"""The report's Chinese font, embedded in the PDF: Noto Serif SC (SIL Open Font License
1.1), shipped by the ``pylopdf-fonts-zh-cn`` package, so no system font is needed to read
the PDF or to make it.

Noto's outlines are CFF (cubic), and reportlab embeds TrueType outlines only. So the
characters a document uses are cut out of the font with fontTools' subsetter and their
outlines converted to quadratic ones (cu2qu, within 1 font unit), which reportlab then
embeds as a subset (``FontFile2``, ``ABCDEF+NotoSerifSC-Regular``). Cutting a few hundred
characters takes well under a second; the font of a set of characters is cached.

Layout (the charts' and the HTML's text widths) is measured with a small font of the
ASCII and punctuation glyphs registered once per process: every ideograph of the font is
1000 units wide, which is also the width reportlab gives a glyph the font lacks, so the
widths are the same as with the full font. While a PDF is built, ``embedded(text)`` puts
the font holding the document's characters in its place (one build at a time)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache

import pylopdf_fonts_zh_cn
from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont as OpenTypeFont
from fontTools.ttLib import newTable
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "NotoSerifSC"
# Always in the font (what layout measures, whatever a document holds):
_BASE_RANGES = (
    (0x20, 0x7F),  # ASCII
    (0xB7, 0xB8),  # middle dot
    (0xD7, 0xD8),  # multiplication sign
    (0x2010, 0x2028),  # dashes, quotes, ellipsis
    (0x2030, 0x2031),  # per mille
    (0x3000, 0x3012),  # ideographic space, comma, full stop, brackets 「」『』【】
    (0xFF01, 0xFF5F),  # full-width forms （），：；！？
)
BASE_CHARS = "".join(chr(c) for lo, hi in _BASE_RANGES for c in range(lo, hi))
_MAX_ERROR = 1.0  # font units: a cubic curve's quadratic approximation stays this close
_lock = threading.Lock()
# Vertical metrics and layout (substitutions, kerning): horizontal text needs none of them.
_DROPPED = ("VORG", "vhea", "vmtx", "BASE", "GPOS", "GSUB", "DSIG")


@cache
def _source() -> bytes:
    return pylopdf_fonts_zh_cn.serif_path().read_bytes()


@lru_cache(maxsize=8)
def truetype_subset(chars: str) -> bytes:
    """A TrueType font of the glyphs of ``chars`` (sorted, deduplicated) cut from the
    source font, outlines converted to quadratic curves."""
    font = OpenTypeFont(io.BytesIO(_source()), recalcTimestamp=False, lazy=True)
    for tag in _DROPPED:  # before subsetting, which would read them (layout: ~0.7 s)
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.layout_features = []  # horizontal text, no substitutions needed
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    cutter = subset.Subsetter(options)
    cutter.populate(text=chars)
    cutter.subset(font)
    _to_quadratic(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _to_quadratic(font: OpenTypeFont) -> None:
    """CFF outlines to ``glyf`` (fontTools' otf2ttf recipe)."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, _MAX_ERROR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for field in (
        "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
        "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
    ):  # fmt: skip
        setattr(maxp, field, 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"


def _font(chars: str) -> TTFont:
    return TTFont(FONT, io.BytesIO(truetype_subset("".join(sorted(set(BASE_CHARS + chars))))))


@cache
def register() -> None:
    """The layout font, once per process."""
    pdfmetrics.registerFont(_font(""))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)


@contextmanager
def embedded(text: str) -> Iterator[None]:
    """While the block runs, ``FONT`` holds the glyphs of every character of ``text``."""
    register()
    font = _font(text)
    with _lock:
        # reportlab keeps the first font registered under a name (no public way to
        # replace it): its registry entry is swapped for the build and put back.
        layout = pdfmetrics.getFont(FONT)
        pdfmetrics._fonts[FONT] = font
        try:
            yield
        finally:
            pdfmetrics._fonts[FONT] = layout
