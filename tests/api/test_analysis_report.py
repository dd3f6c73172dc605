"""The analysis report: exact numbers from issues taken through the API, the HTML and PDF
documents, the authenticated downloads' scope, and the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import io
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pylopdf_fonts_zh_cn
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from reportlab.graphics import renderSVG
from starlette.applications import Starlette
from typer.testing import CliRunner

from closedloop import i18n
from closedloop.authz.roles import Principal
from closedloop.cli.report import report_app
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.domain.periods import ComparisonBasis, InvalidPeriod, comparison, parse_period
from closedloop.domain.regions import RegionLevel
from closedloop.http.report_http import routes
from closedloop.identity.accounts import principal_for
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.services.reports.analysis import (
    Counts,
    MonthCount,
    RegionCounts,
    ReportData,
    ReportNotFound,
    Share,
    fonts,
    gather,
    render_html,
    render_pdf,
)
from closedloop.services.reports.analysis.document import FigureBlock, document_blocks
from closedloop.services.reports.analysis.pdf import drawn_strings
from tests.api.issue_helpers import ok, step, submit, unit_id
from tests.conftest import DEMO_CREDIT, Api

pytestmark = pytest.mark.usefixtures("clean_issues")

CHANGXING_CREDIT = credit_code(DEMO_ENTERPRISES[2].base17)  # 长兴新能源电池, 330522001
REPORT_AT = dt.datetime(2026, 4, 10, 2, 0, tzinfo=dt.UTC)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@dataclass
class Scenario:
    """Numbers of the issues created, by role in the report."""

    resolved_on_time: str  # A: January, rated SATISFIED, later repeated by F
    resolved_late: str  # B: proactive (inspection), resolved after the limit, reopened once
    open_late: str  # C: assigned in February, past its reply limit at report time
    repeat: str  # F: March, confirmed as a recurrence of A


async def build(api: Api, db: Database, clock: FrozenClock) -> Scenario:
    """Issues in 湖州's towns over 2026-Q1 (and one on each side of it), through the API."""
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    market = await unit_id(api, "330521", "departments", "MARKET_REGULATION")

    clock.set(at(2025, 12, 10, 2))  # the previous quarter: one issue
    await submit(api, title="厂区门口道路破损", content="请求维修厂区门口道路。")

    clock.set(at(2025, 12, 31, 16, 30))  # 2026-01-01 00:30 in Beijing: inside 2026-Q1
    e = await submit(api, title="咨询个人所得税", content="员工个税汇算问题。")
    await step(api, "rejectIssue", e, "xinshi.center", reason="非涉企问题，已告知咨询渠道")

    clock.set(at(2026, 1, 5, 1))
    a = await submit(
        api, title="招不到熟练挡车工", content="扩产后缺熟练挡车工约30人。", tags=["人才", "招工"]
    )
    a = await step(api, "acceptIssue", a, "xinshi.center")
    a = await step(api, "triageIssue", a, "xinshi.center", category="APPEAL", boardId=talent)
    a = await step(api, "startIssue", a, "xinshi.talent")
    clock.advance(dt.timedelta(days=3))
    a = await step(api, "resolveIssue", a, "xinshi.talent", reply="已组织专场招聘会。")
    a = await step(api, "rateIssue", a, "ent.xinshi-silk", grade="SATISFIED")

    clock.set(at(2026, 1, 6, 1))
    b = await ok(
        api,
        "submitIssue",
        {
            "title": "检测设备计量证书到期未复检",
            "content": "督帮检查发现企业计量器具检定证书过期。",
            "channel": "INSPECTION",
            "category": "CONSULTATION",
            "tags": ["融资"],
            "creditCode": DEMO_CREDIT,
        },
        "deqing.center",
    )
    b = await step(api, "acceptIssue", b, "deqing.center")
    b = await step(api, "assignIssue", b, "deqing.center", departmentId=market)
    b = await step(api, "startIssue", b, "deqing.market")
    clock.advance(dt.timedelta(days=16))  # past the 15-day reply limit
    b = await step(api, "resolveIssue", b, "deqing.market", reply="已安排复检。")
    b = await step(api, "rateIssue", b, "ent.deqing-geo", grade="UNSATISFIED")
    assert b["state"] == "REOPENED"
    b = await step(api, "resolveIssue", b, "deqing.center", reply="已上门完成复检。")

    clock.set(at(2026, 2, 3, 1))
    c = await submit(api, title="员工宿舍用地咨询", content="想了解宿舍用地政策。", tags=["人才"])
    c = await step(api, "acceptIssue", c, "xinshi.center")
    c = await step(api, "triageIssue", c, "xinshi.center", category="CONSULTATION", boardId=talent)
    d = await ok(
        api,
        "submitIssue",
        {
            "title": "投诉某窗口办事推诿",
            "content": "办理变更登记被多次要求补材料。",
            "channel": "HOTLINE_12345",
            "creditCode": DEMO_CREDIT,
        },
        "deqing.center",
    )
    await step(api, "triageIssue", d, "deqing.center", category="COMPLAINT")

    clock.set(at(2026, 3, 2, 1))
    f = await submit(
        api, title="熟练挡车工又招不到了", content="熟练挡车工再次短缺。", tags=["人才", "招工"]
    )
    f = await step(api, "confirmRecurrence", f, "xinshi.center", previousId=a["id"])
    await ok(
        api,
        "submitIssue",
        {
            "title": "用电负荷调整建议",
            "content": "建议错峰用电安排提前告知。",
            "channel": "DEPARTMENT_REPORT",
            "category": "SUGGESTION",
            "creditCode": CHANGXING_CREDIT,
            "settledResult": "供电部门已当场答复。",
        },
        "changxing.center",
    )
    await submit(api, as_="ent.hangzhou-soft", title="杭州的问题", content="不在湖州。")

    clock.set(at(2026, 3, 31, 17))  # 2026-04-01 01:00 in Beijing: after the quarter
    await submit(api, title="四月的问题", content="不在一季度。")

    # Red and black lists are recorded by evaluators; written directly here, as the report
    # only reads them. One of each in scope, one outside the subtree, one outside the period.
    async with db.admin.begin() as conn:
        found = await conn.execute(
            sa.text("SELECT number, id FROM issue WHERE number IN (:a, :b)"),
            {"a": a["number"], "b": b["number"]},
        )
        ids: dict[str, int] = {row.number: row.id for row in found}
        await conn.execute(
            sa.text(
                "INSERT INTO list_entry (kind, target_kind, region_code, department_id, reason,"
                " issue_id, listed_on, added_at) VALUES"
                " ('RED', 'REGION', '330521102', NULL, '新市镇组织专场招聘会破解招工难',"
                "  :a, '2026-02-10', now()),"
                " ('BLACK', 'DEPARTMENT', '330521',"
                "  (SELECT id FROM department WHERE region_code = '330521'"
                "   AND key = 'MARKET_REGULATION'), '计量复检超期办理', :b, '2026-03-20', now()),"
                " ('RED', 'REGION', '3301', NULL, '杭州的红榜', NULL, '2026-02-10', now()),"
                " ('BLACK', 'REGION', '330522', NULL, '上季度的黑榜', NULL, '2025-12-01', now())"
            ),
            {"a": ids[a["number"]], "b": ids[b["number"]]},
        )
    clock.set(REPORT_AT)
    return Scenario(a["number"], b["number"], c["number"], f["number"])


async def principal(db: Database, username: str) -> Principal:
    async with db.read_reference() as conn:
        found = await principal_for(conn, username)
    assert found is not None
    return found


async def huzhou_q1(db: Database) -> ReportData:
    return await gather(db, await principal(db, "huzhou.center"), "3305", "2026-Q1", now=REPORT_AT)


async def test_gathered_numbers_are_exact(api: Api, db: Database, clock: FrozenClock) -> None:
    s = await build(api, db, clock)
    data = await huzhou_q1(db)

    c = data.counts
    assert (c.total, c.proactive, c.handled, c.rejected, c.routed_out) == (7, 2, 5, 1, 1)
    assert (c.resolved, c.good, c.rated, c.reopened, c.open) == (3, 3, 2, 1, 2)
    assert (c.overdue_resolved, c.overdue_open, c.recurred) == (1, 1, 1)
    assert c.resolution_rate == Fraction(3, 5)
    # 企业满意率＝办结问题好评数÷办结问题数, every resolution rated (HUZHOU_2024 counts every
    # rating): A's SATISFIED, B's UNSATISFIED (kept after B was resolved again), B's second
    # resolution and the settled suggestion unrated (未作评价的默认为好评): 3 good of 4.
    assert (c.rating_satisfied, c.rating_unsatisfied, c.unrated_resolved) == (1, 1, 2)
    assert (c.good, c.resolutions) == (3, 4)
    assert c.satisfaction_rate == Fraction(3, 4)
    assert c.overdue_rate == Fraction(1, 5)
    assert c.recurrence_rate == Fraction(1, 3)
    assert c.proactive_rate == Fraction(2, 7)
    assert data.previous.total == 1  # 2025-Q4, by Beijing dates

    # Largest first; ties in the catalog's order.
    assert [(x.key, x.count, x.proactive) for x in data.by_channel] == [
        ("ONLINE_PORTAL", 4, False),
        ("HOTLINE_12345", 1, False),
        ("INSPECTION", 1, True),
        ("DEPARTMENT_REPORT", 1, True),
    ]
    assert [(x.key, x.count) for x in data.by_category] == [
        ("CONSULTATION", 2),
        ("COMPLAINT", 1),
        ("APPEAL", 1),
        ("SUGGESTION", 1),
        (None, 2),
    ]
    assert [(m.month.month, m.received, m.resolved) for m in data.by_month] == [
        (1, 3, 2),
        (2, 2, 0),
        (3, 2, 1),
    ]
    assert [(r.name, r.counts.total) for r in data.by_region] == [
        ("吴兴区", 0),
        ("南浔区", 0),
        ("德清县", 6),
        ("长兴县", 1),
        ("安吉县", 0),
    ]
    assert [(x.label, x.count) for x in data.top_tags] == [("人才", 3), ("招工", 2), ("融资", 1)]

    # The most overdue first: C has been running late since 18 February.
    assert [x.number for x in data.overdue] == [s.open_late, s.resolved_late]
    late = {x.number: x for x in data.overdue}
    # Replied one day after its 15-day limit; the reopening's new clock does not hide it.
    assert late[s.resolved_late].late_days == 1
    assert late[s.open_late].late_days == 52  # 18 February 01:00 to 10 April 02:00
    assert late[s.resolved_late].unit == "德清县市场监管"
    assert late[s.open_late].state == "ASSIGNED"
    assert [(x.number, x.repeated_by) for x in data.recurring] == [(s.resolved_on_time, s.repeat)]
    assert [(x.target, x.issue_number) for x in data.red_list] == [("新市镇", s.resolved_on_time)]
    assert [(x.target, x.issue_number) for x in data.black_list] == [
        ("德清县市场监管", s.resolved_late)
    ]


async def test_scope_narrows_the_numbers(api: Api, db: Database, clock: FrozenClock) -> None:
    await build(api, db, clock)
    town = await gather(
        db, await principal(db, "xinshi.center"), "330521102", "2026-Q1", now=REPORT_AT
    )
    assert (town.region_name, town.counts.total, town.by_region) == ("新市镇", 4, ())
    county = await gather(
        db, await principal(db, "deqing.center"), "330521", "2026-01-01..2026-03-31", now=REPORT_AT
    )
    assert county.counts.total == 6 and county.counts.proactive == 1
    assert [r.name for r in county.by_region if r.counts.total] == ["武康街道", "新市镇"]
    # A sibling county, the parent city seen from a county, a board handler, an enterprise
    # and a region that does not exist: all alike, "not found".
    for username, region in [
        ("changxing.center", "330521"),
        ("deqing.center", "3305"),
        ("huzhou.talent", "3305"),
        ("ent.xinshi-silk", "330521102"),
        ("province.monitor", "3399"),
        ("province.monitor", "33x"),
    ]:
        with pytest.raises(ReportNotFound):
            await gather(db, await principal(db, username), region, "2026-Q1", now=REPORT_AT)
    with pytest.raises(InvalidPeriod):
        await gather(db, await principal(db, "huzhou.center"), "3305", "2026-Q5")


async def test_html_is_a_self_contained_report_with_charts(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    s = await build(api, db, clock)
    data = await huzhou_q1(db)
    page = render_html(data)

    assert page == render_html(data)
    assert "<title>湖州市涉企问题高效闭环解决分析报告（2026年第一季度）</title>" in page
    assert '<p class="masthead">湖州市企业综合服务中心</p>' in page
    sections = re.findall(r"<h2>(.*?)</h2>", page)
    assert sections == [
        "一、总体情况",
        "二、问题来源分析",
        "三、问题类别分析",
        "四、月度趋势",
        "五、分县（市、区）情况",
        "六、高频问题分析",
        "七、超时问题",
        "八、重发复发问题",
        "九、红黑榜",
        "十、下一步工作建议",
    ]
    # Six inline charts, each labelled; nothing loaded from elsewhere.
    assert len(re.findall(r"<svg ", page)) == 6
    assert re.findall(r'<svg role="img" aria-label="(图\d)', page) == [
        f"图{i}" for i in range(1, 7)
    ]
    assert not re.search(r"""(src|href)=|<script|@import|url\(http""", page)
    # Generated sentences carry the numbers.
    assert "2026年第一季度，湖州市共受理涉企问题7件，较上季度（1件）增长600.0%" in page
    assert "已办结3件，办结率60.0%" in page
    assert "企业满意率75.0%，已评价2件次，其中不满意1件，因企业不满意或申请而重新办理的1件" in page
    assert "超时办结1件，超时办结率20.0%" in page
    assert "另有1件超期未办结" in page
    assert "重发复发1件，重发复发率33.3%" in page
    assert "主动发现问题2件，主动发现率28.6%" in page
    assert "“人才”3件" in page
    # Lists: overdue, recurring, red and black.
    for number in (s.resolved_late, s.open_late, s.resolved_on_time, s.repeat):
        assert number in page
    assert "新市镇组织专场招聘会破解招工难" in page and "计量复检超期办理" in page
    assert "杭州的红榜" not in page and "上季度的黑榜" not in page
    assert "杭州的问题" not in page


async def test_pdf_is_a_deterministic_pdf(api: Api, db: Database, clock: FrozenClock) -> None:
    await build(api, db, clock)
    data = await huzhou_q1(db)
    pdf = render_pdf(data)
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    assert 10_000 < len(pdf) < 500_000
    assert render_pdf(data) == pdf  # no timestamp, no random document id
    assert pdf.count(b"/Type /Page\n") >= 3
    assert_chinese_font_embedded(pdf, "湖州市涉企问题高效闭环解决分析报告")


def assert_chinese_font_embedded(pdf: bytes, text: str) -> None:
    """Every font of every page is embedded, or one of the 14 standard fonts every viewer
    has (Helvetica for figures); the Chinese one is a TrueType subset (FontFile2, its name
    tagged ABCDEF+), far smaller than the font it was cut from, and maps back to the text."""
    reader = PdfReader(io.BytesIO(pdf))
    embedded: dict[str, int] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            name = str(font["/BaseFont"]).lstrip("/")
            if font["/Subtype"] == "/Type1" and name.startswith("Helvetica"):
                continue  # a standard font: no embedding needed
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, name  # TrueType outlines, embedded
            assert re.fullmatch(r"[A-Z]{6}\+NotoSerifSC-Regular", name), name  # a subset
            embedded[name] = len(descriptor["/FontFile2"].get_object().get_data())
    assert embedded
    assert sum(embedded.values()) < pylopdf_fonts_zh_cn.serif_path().stat().st_size // 20
    assert text in "".join(page.extract_text() for page in reader.pages)


async def test_the_pdf_font_holds_every_character_the_document_shows(
    api: Api, db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTML shows the same blocks and charts (SVG text): each of its characters is in
    the text the PDF's font is cut for, chart labels included (no missing glyph boxes)."""
    await build(api, db, clock)
    data = await huzhou_q1(db)
    given: list[str] = []
    embedded = fonts.embedded

    def spy(text: str) -> Any:
        given.append(text)
        return embedded(text)

    monkeypatch.setattr(fonts, "embedded", spy)
    render_pdf(data)
    page = re.sub(r"<style>.*?</style>", "", render_html(data), flags=re.S)
    shown = {ch for ch in html.unescape(re.sub(r"<[^>]+>", "", page)) if not ch.isspace()}
    missing = shown - set(given[0]) - set(fonts.BASE_CHARS)
    assert missing == set()
    # Chart by chart: what its SVG shows, the PDF's text collection finds in the drawing
    # itself (axis and bar labels are made only when a chart is drawn).
    figures = [b for b in document_blocks(data) if isinstance(b, FigureBlock)]
    assert len(figures) == 6
    for figure in figures:
        svg = renderSVG.drawToString(figure.drawing)
        labels = "".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
        assert set(html.unescape(labels)) - set(fonts.BASE_CHARS) <= set(
            "".join(drawn_strings(figure.drawing))
        )


async def test_empty_period_still_renders(api: Api, db: Database, clock: FrozenClock) -> None:
    await build(api, db, clock)
    data = await gather(db, await principal(db, "huzhou.center"), "3305", "2025-07", now=REPORT_AT)
    assert data.counts.total == 0 and data.by_channel == () and data.overdue == ()
    page = render_html(data)
    assert "统计期内没有受理涉企问题" in page and "2025年7月" in page
    assert_chinese_font_embedded(render_pdf(data), "统计期内没有受理涉企问题")


async def get(api: Api, path: str, as_: str | None = None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {api.token(as_)}"} if as_ else {}
    return await api.client.get(path, params=params, headers=headers)


async def test_downloads_answer_in_scope_only(
    api: Api, app: Starlette, db: Database, clock: FrozenClock
) -> None:
    await build(api, db, clock)
    paths = {getattr(r, "path", None) for r in app.router.routes}
    assert {r.path for r in routes} <= paths  # served by the application itself

    html = await get(api, "/export/report.html", "huzhou.center", region="3305", period="2026-Q1")
    assert html.status_code == 200, html.text
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.headers["cache-control"] == "private, no-store"
    assert "办结率60.0%" in html.text

    pdf = await get(api, "/export/report.pdf", "huzhou.leader", region="3305", period="2026-Q1")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    disposition = pdf.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="report-3305-2026-Q1.pdf"')
    assert "filename*=UTF-8''" in disposition

    county = await get(
        api, "/export/report.html", "deqing.center", region="330521", period="2026-Q1"
    )
    assert county.status_code == 200 and "德清县共受理涉企问题6件" in county.text

    for as_, region in [
        ("changxing.center", "330521"),  # a sibling county
        ("deqing.center", "3305"),  # the parent
        (None, "3305"),  # anonymous
        ("province.monitor", "3399"),  # no such region
    ]:
        for path in ("/export/report.html", "/export/report.pdf"):
            response = await get(api, path, as_, region=region, period="2026-Q1")
            assert response.status_code == 404, (as_, region, path)
            assert response.json()["error"]["code"] == "NOT_FOUND"

    bad = await get(api, "/export/report.pdf", "huzhou.center", region="3305", period="2026-Q5")
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "INVALID_PERIOD",
        "message": "统计周期 '2026-Q5' 无法解析："
        "应为 2026-03、2026-Q1、2026 或 2026-01-01..2026-03-31",
    }
    missing = await api.client.get(
        "/export/report.html",
        params={"period": "2026-Q1"},
        headers={"Authorization": f"Bearer {api.token('huzhou.center')}", "Accept-Language": "en"},
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["message"].startswith("missing parameter region")


async def test_a_running_quarter_is_compared_with_the_same_span_before_it(
    api: Api, db: Database, clock: FrozenClock
) -> None:
    """2026-Q2 on 10 April 10:00 (Beijing): one issue so far, against the three of Q1's
    first nine days and ten hours, not the seven of the whole of Q1 (issue #17)."""
    await build(api, db, clock)
    page = await get(api, "/export/report.html", "huzhou.center", region="3305", period="2026-Q2")
    assert page.status_code == 200
    text = page.text
    assert "2026年第二季度，湖州市共受理涉企问题1件，较上季度同期（3件）下降66.7%" in text
    assert (
        "本季度尚未结束，以上数据统计至4月10日10:00；与上季度同期（1月1日至1月10日10:00）比较"
        in text
    )
    assert "较上季度（7件）" not in text
    assert "与上期相同时长的同期数据比较" in text  # the definitions say so too
    data = await gather(db, await principal(db, "huzhou.center"), "3305", "2026-Q2", now=REPORT_AT)
    assert (data.counts.total, data.previous.total) == (1, 3)
    assert data.comparison.basis is ComparisonBasis.SAME_ELAPSED_SPAN
    assert i18n.label(data.comparison.basis, i18n.EN).startswith("period still running")
    # Once the quarter is over, the whole of it against the whole of Q1.
    over = await gather(
        db, await principal(db, "huzhou.center"), "3305", "2026-Q2", now=at(2026, 7, 1, 0)
    )
    assert (over.previous.total, over.comparison.basis) == (7, ComparisonBasis.WHOLE_PERIOD)
    assert "本季度尚未结束" not in render_html(over)
    pdf = await get(api, "/export/report.pdf", "huzhou.center", region="3305", period="2026-Q2")
    assert_chinese_font_embedded(pdf.content, "较上季度同期（3件）下降66.7%")


async def test_command_line_writes_the_report(
    api: Api, db: Database, clock: FrozenClock, database_url: str, tmp_path: Path
) -> None:
    await build(api, db, clock)
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}

    def invoke(*args: str) -> Any:
        return runner.invoke(report_app, ["analysis", *args], env=env)

    pdf_file = tmp_path / "huzhou.pdf"
    # The command runs its own event loop (asyncio.run): give it a thread of its own.
    result = await asyncio.to_thread(
        invoke,
        *("--region", "3305", "--period", "2026-Q1", "--as", "huzhou.center"),
        *("--format", "pdf", "--output", str(pdf_file)),
    )
    assert result.exit_code == 0, result.output
    assert "湖州市 2026-Q1, 7 issues, 3 resolved" in result.output
    assert pdf_file.read_bytes().startswith(b"%PDF")

    html_file = tmp_path / "deqing.html"
    result = await asyncio.to_thread(
        invoke,
        *("--region", "330521", "--period", "2026-Q1", "--as", "deqing.center"),
        *("--output", str(html_file)),
    )
    assert result.exit_code == 0, result.output
    assert "德清县共受理涉企问题6件" in html_file.read_text("utf-8")

    sibling = await asyncio.to_thread(
        invoke, "--region", "330521", "--period", "2026-Q1", "--as", "changxing.center"
    )
    assert sibling.exit_code == 1 and "not found" in sibling.output
    bad = await asyncio.to_thread(
        invoke, "--region", "3305", "--period", "Q1", "--as", "huzhou.center"
    )
    assert bad.exit_code == 2 and "无法解析" in bad.output
    nobody = await asyncio.to_thread(
        invoke, "--region", "3305", "--period", "2026-Q1", "--as", "nobody"
    )
    assert nobody.exit_code == 1 and "unknown or inactive account" in nobody.output


def test_odd_shapes_render_sensibly() -> None:
    """One channel, one tag, a range across a year end, nothing late or listed."""
    counts = Counts(total=1, handled=1, resolved=1, good=1, unrated_resolved=1, resolutions=1)
    period = parse_period("2025-12-15..2026-01-20")
    data = ReportData(
        region_code="330521",
        region_name="德清县",
        region_level=RegionLevel.COUNTY,
        center_name="德清县企业综合服务中心",
        period=period,
        generated_at=REPORT_AT,
        counts=counts,
        previous=Counts(),
        comparison=comparison(period, REPORT_AT),
        by_channel=(Share("HOTLINE_12345", "12345热线", 1),),
        by_category=(Share(None, "待分类", 1),),
        by_month=(
            MonthCount(dt.date(2025, 12, 1), 1, 1),
            MonthCount(dt.date(2026, 1, 1), 0, 0),
        ),
        by_region=(RegionCounts("330521102", "新市镇", counts),),
        top_tags=(Share("人才", "人才", 1),),
        overdue=(),
        recurring=(),
        red_list=(),
        black_list=(),
        list_limit=30,
    )
    page = render_html(data)
    assert "（2025年12月15日至2026年1月20日）" in page
    assert (
        "共受理涉企问题1件，上期无可比数据。" in page
        and "12345热线（1件，占100.0%）是唯一的受理渠道" in page
    )
    assert "按问题标签统计，“人才”1件，占问题总量的100.0%" in page
    assert "2025年12月" in page and "另有1件问题尚待分类" in page
    assert "均在时限内办理" in page and "未新增红榜、黑榜记录" in page
    assert render_pdf(data).startswith(b"%PDF")
