"""The report's words: labels, number formats and the generated sentences."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from closedloop import i18n
from closedloop.catalog import get_catalog
from closedloop.domain.periods import CHINA, Period, PeriodKind
from closedloop.services.reports.analysis.data import ReportData, ratio

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
NUMERALS = "一二三四五六七八九十"


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
    tail = date_text(last) if last.year != y else f"{last.month}月{last.day}日"
    return f"{date_text(p.start)}至{tail}"


def date_text(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def this_period(p: Period) -> str:
    return {PeriodKind.QUARTER: "本季度", PeriodKind.MONTH: "本月", PeriodKind.YEAR: "本年度"}.get(
        p.kind, "本期"
    )


def last_period(p: Period) -> str:
    return {PeriodKind.QUARTER: "上季度", PeriodKind.MONTH: "上月", PeriodKind.YEAR: "上年度"}.get(
        p.kind, "上期"
    )


def compared_with(d: ReportData) -> str:
    """What the figures are compared with: 「上季度」, or 「上季度同期」 while the period runs."""
    return last_period(d.period) + ("同期" if d.comparison.partial else "")


def comparison_note(d: ReportData) -> str:
    """The sentence that says a running period is compared with the same span of the
    previous one (empty once the period is over)."""
    cmp = d.comparison
    if not cmp.partial:
        return ""
    until, before = local_time(cmp.until), local_time(cmp.previous_until)
    return (
        f"{this_period(d.period)}尚未结束，以上数据统计至{_moment(until)}；"
        f"与{last_period(d.period)}同期（{_moment(local_time(cmp.previous.start_at))}至"
        f"{_moment(before)}）比较，而非与{last_period(d.period)}全期比较。"
    )


def _moment(instant: dt.datetime) -> str:
    day = f"{instant.month}月{instant.day}日"
    return day if instant.time() == dt.time(0) else f"{day}{instant:%H:%M}"


def num(n: int) -> str:
    return f"{n:,}"


def _percent_value(r: Fraction) -> Decimal:
    """A rate as a percentage with one decimal, rounded half-up (96.25 → 96.3)."""
    exact = Decimal(r.numerator) * 100 / Decimal(r.denominator)
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def pct(r: Fraction | None) -> str:
    return "—" if r is None else f"{_percent_value(r)}%"


def share_text(part: int, whole: int) -> str:
    return pct(ratio(part, whole))


def count_change(now: int, before: int, last: str) -> str:
    if before == 0:
        return f"{last}无可比数据"
    change = _percent_value(Fraction(now - before, before))
    if change == 0:
        return f"与{last}（{num(before)}件）持平"
    word = "增长" if change > 0 else "下降"
    return f"较{last}（{num(before)}件）{word}{abs(change)}%"


def point_change(now: Fraction | None, before: Fraction | None, last: str) -> str:
    if now is None or before is None:
        return ""
    diff = _percent_value(now) - _percent_value(before)
    if diff == 0:
        return f"与{last}持平"
    return f"较{last}{'提高' if diff > 0 else '下降'}{abs(diff)}个百分点"


def local_time(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(CHINA)


def _quote(names: Iterable[str]) -> str:
    return "".join(f"“{n}”" for n in names)


def _series(items: Sequence[str]) -> str:
    """a、b和c."""
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "和" + items[-1]


def stamp(instant: dt.datetime) -> str:
    local = local_time(instant)
    return f"{date_text(local.date())} {local:%H:%M}"


# --- generated sentences -----------------------------------------------------------------


def overview(d: ReportData) -> list[str]:
    c, p, last = d.counts, d.previous, compared_with(d)
    head = f"{period_title(d.period)}，{d.region_name}共受理涉企问题{num(c.total)}件"
    note = comparison_note(d)
    if c.total == 0:
        return [head + f"，{count_change(c.total, p.total, last)}。{note}"]
    first = (
        f"{head}，{count_change(c.total, p.total, last)}。其中进入办理流程{num(c.handled)}件，"
        f"引导至专门渠道{num(c.routed_out)}件，不予受理{num(c.rejected)}件。"
        f"已办结{num(c.resolved)}件，办结率{pct(c.resolution_rate)}"
        + _paren(point_change(c.resolution_rate, p.resolution_rate, last))
        + f"；尚在办理{num(c.open)}件。"
    )
    reopened = f"，因企业不满意或申请而重新办理的{num(c.reopened)}件" if c.reopened else ""
    unsatisfied = f"，其中不满意{num(c.rating_unsatisfied)}件" if c.rating_unsatisfied else ""
    second = (
        f"企业满意率{pct(c.satisfaction_rate)}"
        + _paren(point_change(c.satisfaction_rate, p.satisfaction_rate, last))
        + f"，已评价{num(c.rated)}件次{unsatisfied}{reopened}。"
        f"超时办结{num(c.overdue_resolved)}件，超时办结率{pct(c.overdue_rate)}"
        + _paren(point_change(c.overdue_rate, p.overdue_rate, last))
        + (f"，另有{num(c.overdue_open)}件超期未办结" if c.overdue_open else "")
        + f"。重发复发{num(c.recurred)}件，重发复发率{pct(c.recurrence_rate)}。"
        f"主动发现问题{num(c.proactive)}件，主动发现率{pct(c.proactive_rate)}"
        + _paren(point_change(c.proactive_rate, p.proactive_rate, last))
        + "。"
    )
    return [first, second, note] if note else [first, second]


def _paren(text: str) -> str:
    return f"（{text}）" if text else ""


def channel_text(d: ReportData) -> str:
    total = d.counts.total
    top = d.by_channel[:3]
    parts = [f"{s.label}（{num(s.count)}件，占{share_text(s.count, total)}）" for s in top]
    lead = f"从问题来源看，{_series(parts)}"
    if len(top) > 1:
        lead += f"是主要受理渠道，合计占{share_text(sum(s.count for s in top), total)}"
    else:
        lead += "是唯一的受理渠道"
    proactive = [s for s in d.by_channel if s.proactive]
    if proactive:
        names = "、".join(s.label for s in proactive[:3])
        tail = (
            f"。{names}等主动发现渠道共发现问题{num(d.counts.proactive)}件，"
            f"占{pct(d.counts.proactive_rate)}"
            + _paren(
                point_change(d.counts.proactive_rate, d.previous.proactive_rate, compared_with(d))
            )
        )
    else:
        tail = "。本期没有通过主动发现渠道发现的问题，主动发现工作有待加强"
    return f"{lead}{tail}。"


def category_text(d: ReportData) -> str:
    total = d.counts.total
    known = [s for s in d.by_category if s.key is not None]
    text = "从问题类别看，"
    if known:
        first = known[0]
        text += f"{first.label}问题最多，共{num(first.count)}件，占{share_text(first.count, total)}"
        rest = [f"{s.label}（{num(s.count)}件，{share_text(s.count, total)}）" for s in known[1:3]]
        if rest:
            text += f"；其次是{_series(rest)}"
        text += "。"
    guided = [s for s in known if s.key in ("COMPLAINT", "REPORT", "SERVICE_REQUEST")]
    if guided:
        text += (
            f"投诉、举报、办事类问题共{num(sum(s.count for s in guided))}件，按规定引导至专门渠道"
            f"办理的{num(d.counts.routed_out)}件。"
        )
    unclassified = next((s for s in d.by_category if s.key is None), None)
    if unclassified:
        text += f"另有{num(unclassified.count)}件问题尚待分类。"
    return text


def month_label(month: dt.date, period: Period) -> str:
    same_year = period.start.year == period.last_day.year
    return f"{month.month}月" if same_year else f"{month.year}年{month.month}月"


def month_text(d: ReportData) -> str:
    months = d.by_month
    parts = [f"{month_label(m.month, d.period)}{num(m.received)}件" for m in months]
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
        text += f"，{shape}，{month_label(peak.month, d.period)}最多"
    text += "。"
    ratios = [Fraction(m.resolved, m.received) for m in months if m.received]
    if len(ratios) >= 2:
        text += f"各月受理问题目前的办结比例依次为{'、'.join(pct(r) for r in ratios)}"
        # Only said when true: later months have had less time to be worked through.
        if all(a >= b for a, b in itertools.pairwise(ratios)) and ratios[0] > ratios[-1]:
            text += "，越近的月份在办问题越多"
        text += "。"
    return text


def region_text(d: ReportData) -> str:
    rows = [r for r in d.by_region if r.counts.total]
    if not rows:
        return "各地均未受理涉企问题。"
    by_total = sorted(rows, key=lambda r: (-r.counts.total, r.code))
    total = d.counts.total
    text = (
        f"分地区看，{by_total[0].name}受理量最多，共{num(by_total[0].counts.total)}件，"
        f"占{share_text(by_total[0].counts.total, total)}"
    )
    if len(by_total) > 1:
        text += f"；其次是{by_total[1].name}（{num(by_total[1].counts.total)}件）"
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


def tags_text(d: ReportData) -> str:
    tags = d.top_tags
    if not tags:
        return "本期问题均未标注标签。"
    head = tags[:3]
    detail = "、".join(f"“{s.label}”{num(s.count)}件" for s in head)
    shares = "、".join(share_text(s.count, d.counts.total) for s in head)
    ranking = (
        f"排名前{len(tags)}位的依次是{_quote(s.label for s in tags)}。其中" if len(tags) > 1 else ""
    )
    return (
        f"按问题标签统计，{ranking}{detail}，{'分别' if len(head) > 1 else ''}"
        f"占问题总量的{shares}，是企业反映最集中的领域（一个问题可有多个标签）。"
    )


def overdue_text(d: ReportData) -> str:
    c = d.counts
    shown = len(d.overdue)
    all_late = c.overdue_resolved + c.overdue_open
    if all_late == 0:
        return f"{this_period(d.period)}受理的问题均在时限内办理，未发生超时办结。"
    text = f"{this_period(d.period)}受理的问题中，超时办结{num(c.overdue_resolved)}件"
    if c.overdue_open:
        text += f"；截至{stamp(d.generated_at)}，另有{num(c.overdue_open)}件超期尚未办结"
    text += "。"
    if shown < all_late:
        text += f"下表按超时天数列出最突出的{shown}件（共{num(all_late)}件）。"
    return text


def recurring_text(d: ReportData) -> str:
    c = d.counts
    if c.recurred == 0:
        return f"{this_period(d.period)}已办结的问题中，尚未发现办结后重发复发的情况。"
    text = (
        f"{this_period(d.period)}已办结的{num(c.resolved)}件问题中，有{num(c.recurred)}件在办结后"
        f"重发复发，重发复发率{pct(c.recurrence_rate)}。"
    )
    if len(d.recurring) < c.recurred:
        text += f"下表列出其中{len(d.recurring)}件。"
    return text


def lists_text(d: ReportData) -> str:
    red, black = len(d.red_list), len(d.black_list)
    if red == black == 0:
        return f"{this_period(d.period)}{d.region_name}辖区未新增红榜、黑榜记录。"
    return f"{this_period(d.period)}{d.region_name}辖区新增红榜{red}项、黑榜{black}项，具体如下。"


def advice_paragraphs(d: ReportData) -> list[str]:
    """Sentences driven by the numbers, not boilerplate: each appears only when it applies."""
    c = d.counts
    out: list[str] = []
    if c.overdue_open:
        out.append(
            f"紧盯超期问题。目前仍有{num(c.overdue_open)}件问题超期未办结，请承办单位倒排时间、"
            f"加快办理，{d.center_name}实行逐件督办、办结销号。"
        )
    if c.overdue_resolved:
        worst = [r for r in d.by_region if r.counts.overdue_resolved]
        where = ""
        if worst:
            w = max(worst, key=lambda r: (r.counts.overdue_rate or 0, r.counts.total))
            where = f"，{w.name}超时办结率相对较高，要重点分析原因"
        out.append(
            f"提升办理时效。{this_period(d.period)}超时办结{num(c.overdue_resolved)}件{where}，"
            "严格落实交办、答复时限要求，对亮黄灯的问题提前介入。"
        )
    if d.top_tags:
        top = d.top_tags[0]
        out.append(
            f"聚焦共性诉求。“{top.label}”类问题{num(top.count)}件，居各类问题之首，"
            "建议相关板块和部门梳理共性原因，从政策层面研究解决，做到解决一个、带动一片。"
        )
    if c.reopened:
        out.append(
            f"做好回访核实。对重新办理过的{num(c.reopened)}件问题逐件回访，确认问题真正解决，"
            "防止“一办了之”。"
        )
    if c.recurred:
        out.append(
            f"防止问题反弹。对{num(c.recurred)}件重发复发问题开展举一反三，查找办理中的薄弱环节，"
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
