"""Generated documents: the periodic analysis report (HTML and PDF) of a region."""

from closedloop.services.reports.analysis import (
    ReportData,
    ReportNotFound,
    gather,
    render_html,
    render_pdf,
)

__all__ = ["ReportData", "ReportNotFound", "gather", "render_html", "render_pdf"]
