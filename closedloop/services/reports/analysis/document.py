"""The document model shared by the HTML and the PDF: headings, paragraphs, figures and
tables in reading order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reportlab.graphics.shapes import Drawing

from closedloop.domain.regions import RegionLevel
from closedloop.services.reports.analysis.charts import (
    category_chart,
    channel_chart,
    kpi_cards,
    month_chart,
    region_chart,
    tags_chart,
)
from closedloop.services.reports.analysis.data import ReportData
from closedloop.services.reports.analysis.wording import (
    NUMERALS,
    advice_paragraphs,
    category_text,
    channel_text,
    date_text,
    lists_text,
    local_time,
    month_text,
    num,
    overdue_text,
    overview,
    pct,
    recurring_text,
    region_text,
    stamp,
    state_label,
    tags_text,
)


@dataclass(frozen=True, slots=True)
class HeadingBlock:
    text: str


@dataclass(frozen=True, slots=True)
class ParaBlock:
    text: str
    small: bool = False
    lead: str = ""  # a leading phrase set in bold (HTML; the PDF font has no bold face)


@dataclass(frozen=True, slots=True)
class FigureBlock:
    drawing: Drawing
    caption: str


@dataclass(frozen=True, slots=True)
class TableBlock:
    columns: tuple[str, ...]
    widths: tuple[float, ...]  # relative
    align: str  # one letter per column: L, C, R, or N (an issue number: never wrapped)
    rows: tuple[tuple[str, ...], ...]
    caption: str


Block = HeadingBlock | ParaBlock | FigureBlock | TableBlock


def title_of(data: ReportData) -> str:
    return f"{data.region_name}涉企问题高效闭环解决分析报告"


def document_blocks(data: ReportData) -> list[Block]:
    """The report as a sequence of blocks; both renderers lay out exactly these."""
    blocks: list[Block] = []
    figures = iter(range(1, 100))
    tables = iter(range(1, 100))
    sections = iter(NUMERALS)
    c = data.counts

    def heading(text: str) -> None:
        blocks.append(HeadingBlock(f"{next(sections)}、{text}"))

    def figure(drawing: Drawing, caption: str) -> None:
        blocks.append(FigureBlock(drawing, f"图{next(figures)}　{caption}"))

    def table(
        columns: tuple[str, ...],
        widths: tuple[float, ...],
        align: str,
        rows: Iterable[tuple[str, ...]],
        caption: str,
    ) -> None:
        blocks.append(
            TableBlock(columns, widths, align, tuple(rows), f"表{next(tables)}　{caption}")
        )

    heading("总体情况")
    blocks.extend(ParaBlock(s) for s in overview(data))
    figure(kpi_cards(data), "主要指标")
    if c.total == 0:
        heading("说明")
        blocks.append(ParaBlock("统计期内没有受理涉企问题，以下各项分析从略。"))
        blocks.extend(_definitions(data))
        return blocks

    heading("问题来源分析")
    blocks.append(ParaBlock(channel_text(data)))
    figure(channel_chart(data), "各渠道受理问题数量")

    heading("问题类别分析")
    blocks.append(ParaBlock(category_text(data)))
    figure(category_chart(data), "问题类别构成")

    heading("月度趋势")
    blocks.append(ParaBlock(month_text(data)))
    figure(month_chart(data), "各月受理及办结情况")

    if data.by_region:
        heading(f"{_child_noun(data.region_level)}情况")
        blocks.append(ParaBlock(region_text(data)))
        figure(region_chart(data), f"{_child_noun(data.region_level)}受理问题数量")
        table(
            ("地区", "受理", "办结", "办结率", "满意率", "超时办结率", "重发复发率", "主动发现率"),
            (16, 10, 10, 11, 11, 13, 13, 13),
            "LRRRRRRR",
            (
                (
                    r.name,
                    num(r.counts.total),
                    num(r.counts.resolved),
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
    blocks.append(ParaBlock(tags_text(data)))
    if data.top_tags:
        figure(tags_chart(data), f"问题标签前{len(data.top_tags)}位")

    heading("超时问题")
    blocks.append(ParaBlock(overdue_text(data)))
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
    blocks.append(ParaBlock(recurring_text(data)))
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
                    local_time(line.resolved_at).strftime("%Y-%m-%d") if line.resolved_at else "",
                    line.repeated_by or "—",
                )
                for i, line in enumerate(data.recurring, 1)
            ),
            "重发复发问题清单",
        )

    heading("红黑榜")
    blocks.append(ParaBlock(lists_text(data)))
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
    for i, advice in enumerate(advice_paragraphs(data)):
        lead, _, rest = advice.partition("。")
        blocks.append(ParaBlock(rest, lead=f"（{NUMERALS[i]}）{lead}。"))
    blocks.extend(_definitions(data))
    return blocks


def _child_noun(level: RegionLevel) -> str:
    return {
        RegionLevel.PROVINCE: "分市",
        RegionLevel.CITY: "分县（市、区）",
        RegionLevel.COUNTY: "分乡镇（街道）",
    }.get(level, "分地区")


def _definitions(data: ReportData) -> list[Block]:
    start, last = data.period.start, data.period.last_day
    return [
        ParaBlock(
            "统计口径：统计"
            f"{date_text(start)}至{date_text(last)}（北京时间）{data.region_name}辖区企业提出的涉企问题，"
            "已合并的重复问题只计主问题一次。办结率＝办结问题数÷办理问题总数（不含不予受理和"
            "引导至专门渠道的问题）；企业满意率＝办结问题好评数÷办结问题数，每次办结的评价均计入"
            "（评价不满意后重新办理的，原评价仍保留），评价为满意、比较满意、基本满意的计为好评，"
            "未作评价的默认为好评；超时办结率＝超时办结问题数÷办理问题总数；"
            "重发复发率＝问题解决后重发复发数÷办结问题数；主动发现率＝主动发现问题数÷问题总数。"
            "百分比保留一位小数（四舍五入）。"
            + (
                f"统计期尚未结束的，本期数据统计至{stamp(data.comparison.until)}，"
                "与上期相同时长的同期数据比较。"
                if data.comparison.partial
                else ""
            ),
            small=True,
        ),
        ParaBlock(
            f"数据来源：涉企问题高效闭环解决平台。数据截至{stamp(data.as_of)}。",
            small=True,
        ),
    ]
