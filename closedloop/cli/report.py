"""``closedloop report …``: generated documents (register with
``app.add_typer(report_app, name="report")`` in ``closedloop.cli``)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings

report_app = typer.Typer(help="Generated reports")


@report_app.callback()
def _report() -> None:
    """Generated reports."""


class ReportFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"


@report_app.command()
def analysis(
    region: Annotated[str, typer.Option(help="region code, e.g. 3305 (湖州)")],
    period: Annotated[str, typer.Option(help="2026-Q1, 2026-03, 2026 or 2026-01-01..2026-03-31")],
    account: Annotated[
        str, typer.Option("--as", help="account whose scope the report is drawn in")
    ],
    format_: Annotated[
        ReportFormat, typer.Option("--format", help="html (charts inline) or pdf")
    ] = ReportFormat.HTML,
    output: Annotated[
        Path | None, typer.Option(help="file to write (default: report-REGION-PERIOD.EXT)")
    ] = None,
) -> None:
    """The analysis report of a region and period (volumes, key rates, top tags, overdue
    and recurring issues, red and black lists, with charts), in the scope of ``--as``."""
    from closedloop.domain.periods import InvalidPeriod, parse_period
    from closedloop.identity.accounts import principal_for
    from closedloop.services.reports.analysis import (
        ReportData,
        ReportNotFound,
        gather,
        render_html,
        render_pdf,
    )

    try:
        parsed = parse_period(period)
    except InvalidPeriod as exc:
        typer.echo(exc.zh, err=True)
        raise typer.Exit(code=2) from None

    async def go() -> ReportData | str:
        async with database_for(Settings()) as db:
            async with db.read_reference() as conn:
                principal = await principal_for(conn, account)
            if principal is None:
                return f"unknown or inactive account: {account}"
            try:
                return await gather(db, principal, region, parsed)
            except ReportNotFound:
                return f"region {region} not found or not in the scope of {account}"

    data = run_coroutine(go())
    if isinstance(data, str):
        typer.echo(data, err=True)
        raise typer.Exit(code=1)
    slug = parsed.label.replace("..", "_")
    target = output or Path(f"report-{region}-{slug}.{format_.value}")
    if format_ is ReportFormat.PDF:
        target.write_bytes(render_pdf(data))
    else:
        target.write_text(render_html(data), encoding="utf-8")
    c = data.counts
    typer.echo(
        f"wrote {target}: {data.region_name} {data.period.label}, {c.total} issues,"
        f" {c.resolved} resolved"
    )
