"""``closedloop enterprises import --file F`` (also ``closedloop import enterprises``): take
the enterprise registry in, through the same service as ``registerEnterprise``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.domain.clock import SystemClock
from closedloop.services.accounts.enterprises import ImportReport, ImportRow, import_enterprises
from closedloop.services.accounts.registry_file import (
    RegistryFormat,
    Unreadable,
    format_of,
    read_registry,
)
from closedloop.services.accounts.unit import Operator
from closedloop.settings import Settings

enterprises_app = typer.Typer(help="Administer enterprises")

MAX_PRINTED_ERRORS = 1000


@enterprises_app.callback()
def _group() -> None:
    """Administer enterprises."""


def import_registry(
    file: Annotated[
        Path,
        typer.Option(help="CSV (header row) or JSON lines", exists=True, dir_okay=False),
    ],
    fmt: Annotated[
        RegistryFormat | None,
        typer.Option("--format", help="default: from the file's extension"),
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding, e.g. gb18030")] = "utf-8-sig",
) -> None:
    """Validate every row (credit code, name, region code, contact), then register new
    credit codes and update changed ones; idempotent on the credit code.

    Bad rows are listed on stderr with their line and reason; exits 1 when there was any."""
    settings = Settings()
    rows: list[ImportRow] = []
    unreadable: list[Unreadable] = []
    for item in read_registry(file.read_text(encoding=encoding), fmt or format_of(file)):
        (unreadable if isinstance(item, Unreadable) else rows).append(item)  # type: ignore[arg-type]

    async def go() -> ImportReport:
        async with database_for(settings) as db:
            operator = Operator(f"cli:{getpass.getuser()}")
            return await import_enterprises(db, SystemClock(), operator, rows)

    report = run_coroutine(go())
    problems = [(u.line, u.reason) for u in unreadable] + [
        (line, f"{err.code.value} {field or ''}: {err.message('en')}".strip())
        for line, field, err in report.rejected
    ]
    problems.sort()
    for line, reason in problems[:MAX_PRINTED_ERRORS]:
        typer.echo(f"line {line}: {reason}", err=True)
    typer.echo(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged},"
        f" rejected {len(problems)}"
    )
    if problems:
        raise typer.Exit(code=1)


enterprises_app.command("import")(import_registry)
