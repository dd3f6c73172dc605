"""``closedloop seed …``: reference and demo data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings

seed_app = typer.Typer(help="Load reference or demo data")


@seed_app.command("regions")
def seed_regions(
    file: Annotated[Path | None, typer.Option(help="CSV code,name,level,parent_code")] = None,
) -> None:
    """Load a region tree (default: the shipped Zhejiang tree) with centers, boards, departments."""
    from closedloop.tenancy.seed import load_region_file

    text = file.read_text("utf-8") if file else None

    async def go() -> int:
        async with database_for(Settings(), migrate=True) as db:
            async with db.system_transaction() as conn:
                report = await load_region_file(conn, text)
                await conn.commit()
            for line, reason in report.errors[:50]:
                typer.echo(f"line {line}: {reason}", err=True)
            typer.echo(f"loaded {len(report.rows)} regions, {len(report.errors)} rejected")
            return len(report.errors)

    started = dt.datetime.now()
    errors = run_coroutine(go())
    typer.echo(f"took {(dt.datetime.now() - started).total_seconds():.1f} s")
    raise typer.Exit(code=1 if errors else 0)


@seed_app.command("department")
def seed_department(
    region: Annotated[str, typer.Argument(help="region code")],
    key: Annotated[str, typer.Argument(help="English key, e.g. EDUCATION")],
    zh: Annotated[str, typer.Argument(help="Chinese name, e.g. 教育")],
    en: Annotated[str, typer.Argument(help="English name")],
    subtree: Annotated[bool, typer.Option(help="add to every region below too")] = False,
) -> None:
    """Add one of the "+N" departments (not scored) to a region's center."""
    from closedloop.domain.regions import is_valid_code
    from closedloop.tenancy.seed import add_department

    if not is_valid_code(region) or not key.isupper():
        typer.echo("region must be a region code and key an upper-case identifier", err=True)
        raise typer.Exit(code=2)

    async def go() -> int:
        async with database_for(Settings(), migrate=True) as db, db.system_transaction() as conn:
            added = await add_department(conn, region, key, zh, en, subtree)
            await conn.commit()
            return added

    typer.echo(f"added to {run_coroutine(go())} regions")


@seed_app.command("demo")
def seed_demo_cmd() -> None:
    """Seed the demo data set (idempotent); refused in production."""
    from closedloop.services.demo import seed_demo

    settings = Settings()
    if settings.production:
        typer.echo("the demo data set is never seeded in production", err=True)
        raise typer.Exit(code=2)

    async def go() -> list[str]:
        async with database_for(settings, migrate=True) as db, db.system_transaction() as conn:
            names = await seed_demo(conn)
            await conn.commit()
            return names

    names = run_coroutine(go())
    typer.echo("accounts: " + ", ".join(names))
