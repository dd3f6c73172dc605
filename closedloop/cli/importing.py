"""``closedloop import``: take one channel's records (e.g. a 12345 hotline export) in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from closedloop.cli.enterprises import import_registry
from closedloop.cli.support import database_for, run_coroutine
from closedloop.domain.clock import SystemClock
from closedloop.domain.issues import Channel
from closedloop.services.issues.import_records import ImportFormat, ImportRefused, ImportReport
from closedloop.services.issues.importer import import_issues
from closedloop.settings import Settings

import_app = typer.Typer(help="Import records of an intake channel into the issue library")

MAX_PRINTED_ERRORS = 1000


@import_app.callback()
def _group() -> None:
    """Import records of an intake channel into the issue library."""
    # A callback keeps ``issues`` a subcommand even while it is the only one.


import_app.command("enterprises")(import_registry)


@import_app.command("issues")
def issues(
    channel: Annotated[
        Channel,
        typer.Option(
            help="the channel the records come from, e.g. HOTLINE_12345",
            case_sensitive=False,
            metavar="CHANNEL",
        ),
    ],
    file: Annotated[
        Path,
        typer.Option(help="CSV (header row) or JSON lines", exists=True, dir_okay=False),
    ],
    as_: Annotated[
        str,
        typer.Option(
            "--as", help="importing staff account (center staff or leader)", metavar="USERNAME"
        ),
    ],
    fmt: Annotated[
        ImportFormat | None,
        typer.Option("--format", help="default: from the file's extension"),
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding, e.g. gb18030")] = "utf-8-sig",
) -> None:
    """Validate every record, then import the good ones (idempotent on channel + record_id).

    Exits 1 when any record was bad (listed with its line on stderr), 0 otherwise.
    """
    settings = Settings()

    async def go() -> ImportReport:
        async with database_for(settings) as db:
            return await import_issues(
                db,
                SystemClock(),
                settings,
                channel=channel,
                path=file,
                username=as_,
                fmt=fmt,
                encoding=encoding,
            )

    try:
        report = run_coroutine(go())
    except ImportRefused as exc:
        typer.echo(f"import refused: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    for error in report.errors[:MAX_PRINTED_ERRORS]:
        typer.echo(str(error), err=True)
    if len(report.errors) > MAX_PRINTED_ERRORS:
        typer.echo(f"... and {len(report.errors) - MAX_PRINTED_ERRORS} more", err=True)
    typer.echo(
        f"{report.records} records: imported {report.imported}, "
        f"already imported {report.skipped_existing}, bad {len(report.bad_lines)}"
    )
    raise typer.Exit(code=1 if report.errors else 0)
