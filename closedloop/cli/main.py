"""The ``closedloop`` command line."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from closedloop.cli.importing import import_app
from closedloop.cli.relay import relay_app
from closedloop.cli.report import report_app
from closedloop.cli.support import database_for, run_coroutine
from closedloop.observability import configure_logging
from closedloop.settings import Settings, UnsafeSettings

app = typer.Typer(help="closedloop: closed-loop resolution of enterprise issues (GraphQL API)")
seed_app = typer.Typer(help="Load reference or demo data")
app.add_typer(seed_app, name="seed")
app.add_typer(relay_app, name="relay")
app.add_typer(import_app, name="import")
app.add_typer(report_app, name="report")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed the demo data set once")] = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    access_log: Annotated[
        bool, typer.Option(help="log every request (uvicorn's access log) to stdout")
    ] = True,
) -> None:
    """Run the API (embedded PostgreSQL when DATABASE_URL is not set). In production
    (CLOSEDLOOP_ENVIRONMENT=production) it refuses unsafe settings, listing each problem."""
    import uvicorn

    if demo:
        os.environ["CLOSEDLOOP_DEMO"] = "true"
    settings = Settings()
    problems = settings.problems()
    if settings.metrics_port is not None and workers > 1:
        problems.append(
            "CLOSEDLOOP_METRICS_PORT serves one process's metrics: run one worker per process"
        )
    if problems:
        typer.echo(str(UnsafeSettings(problems)), err=True)
        raise typer.Exit(code=2)
    if demo:
        typer.echo("Demo data: accounts deqing.center, huzhou.center, changxing.center, ...")
        typer.echo("Token:     closedloop token deqing.center")
    typer.echo(f"GraphQL:   http://{host}:{port}/graphql")
    # One log configuration (JSON in production); each worker sets it again at start.
    configure_logging(settings)
    uvicorn.run(
        "closedloop.http.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=None,
        access_log=access_log,
    )


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest migration (and load the Zhejiang tree if empty),
    then bring the dashboard rollup up to date (a migration may have marked every slice)."""
    from closedloop.http.app import prepare_data
    from closedloop.services.evaluation import rollup

    async def go() -> int:
        async with database_for(Settings(), migrate=True) as db:
            await prepare_data(db, demo=False)
            async with db.system_transaction() as conn:
                slices = await rollup.refresh_on(conn)
                await conn.commit()
                return slices

    slices = run_coroutine(go())
    typer.echo(f"database at head; dashboard rollup: {slices} slices recomputed")


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


@app.command()
def token(
    account: Annotated[str, typer.Argument(help="the account's username")],
    hours: Annotated[int, typer.Option(help="validity")] = 12,
) -> None:
    """Mint a development token (HS256) for an existing account."""
    from closedloop.identity.accounts import principal_for
    from closedloop.identity.tokens import mint_token

    settings = Settings()
    if settings.jwks_url:
        typer.echo("tokens come from the identity provider when a JWKS URL is set", err=True)
        raise typer.Exit(code=2)
    if hours * 60 > settings.max_token_lifetime_minutes:
        typer.echo(
            f"--hours {hours} exceeds CLOSEDLOOP_MAX_TOKEN_LIFETIME_MINUTES "
            f"({settings.max_token_lifetime_minutes}): the server would refuse the token",
            err=True,
        )
        raise typer.Exit(code=2)

    async def exists() -> bool:
        async with database_for(settings) as db, db.read_reference() as conn:
            return await principal_for(conn, account) is not None

    if not run_coroutine(exists()):
        typer.echo(f"unknown account: {account}", err=True)
        raise typer.Exit(code=1)
    typer.echo(mint_token(settings, account, dt.timedelta(hours=hours)))


@app.command()
def sweep() -> None:
    """Turn lights and close unrated issues once (the server also does this periodically)."""
    from closedloop.domain.clock import SystemClock
    from closedloop.services.issues.sweeper import sweep as run_sweep

    settings = Settings()

    async def go() -> str:
        async with database_for(settings) as db:
            report = await run_sweep(db, SystemClock(), settings)
        return f"lights: {report.lights}, closed: {report.closed}"

    typer.echo(run_coroutine(go()))


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="where to write the SDL")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema (SDL) that front-end teams code against."""
    from closedloop.http.schema import build_schema

    output.write_text(schema_sdl(build_schema()), encoding="utf-8")
    typer.echo(f"wrote {output}")


def schema_sdl(schema: object) -> str:
    from strawberry.printer import print_schema

    return print_schema(schema) + "\n"  # type: ignore[arg-type]


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
