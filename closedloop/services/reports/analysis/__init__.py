"""The periodic analysis report (涉企问题高效闭环解决分析报告) of a region and period.

``gather`` (``gathering``) reads the numbers into a ``ReportData`` (``data``);
``render_html`` (``html``) and ``render_pdf`` (``pdf``) lay the same data out as one document
(``document``): sections, short generated sentences (``wording``), tables and charts
(``charts``, reportlab drawings: inline SVG in the HTML, vector graphics in the PDF), in the
look both share (``style``).

Definitions (统计口径), the same as the platform indicators of the Huzhou scheme:

* the report's issues originate in the region's subtree and were created in the period
  (Beijing time); issues merged into another are left out, their primary counts once;
* handled (办理) = all but the rejected and those routed out to a dedicated route;
* resolved (办结) = RESOLVED or CLOSED;
* resolution rate = resolved / handled; overdue rate = resolved after the limit / handled;
* satisfaction rate = (resolved and rated in the scheme's satisfied grades, or unrated) /
  resolved — an unrated issue counts as good (未作评价的默认为好评);
* recurrence rate = resolved issues that later recurred / resolved;
* proactive discovery rate = issues from a proactive channel / all issues.
"""

from closedloop.services.reports.analysis.data import (
    Counts,
    IssueLine,
    ListLine,
    MonthCount,
    RegionCounts,
    ReportData,
    ReportNotFound,
    Share,
)
from closedloop.services.reports.analysis.document import title_of
from closedloop.services.reports.analysis.gathering import gather
from closedloop.services.reports.analysis.html import render_html
from closedloop.services.reports.analysis.pdf import render_pdf
from closedloop.services.reports.analysis.wording import channel_label, period_title

__all__ = [
    "Counts",
    "IssueLine",
    "ListLine",
    "MonthCount",
    "RegionCounts",
    "ReportData",
    "ReportNotFound",
    "Share",
    "channel_label",
    "gather",
    "period_title",
    "render_html",
    "render_pdf",
    "title_of",
]
