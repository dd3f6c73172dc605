"""``python -m bench …`` (from the repository root): benchmark data. Not part of the runtime
package: ``closedloop`` the command never imports it."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer

from closedloop.settings import Settings

bench_app = typer.Typer(help="Benchmark data and helpers (never against the embedded dev DB)")


@bench_app.callback()
def _bench() -> None:
    """Benchmark data and helpers."""


@bench_app.command()
def generate(
    issues: Annotated[int, typer.Option(help="issues to generate", min=0)] = 100_000,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same data")] = 1,
    enterprises: Annotated[
        int | None, typer.Option(help="enterprises to create (default: issues / 8)", min=1)
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="ISO time the history ends at (default: now, to the minute)"),
    ] = None,
    root: Annotated[str, typer.Option(help="region subtree to fill")] = "33",
    busy: Annotated[
        list[str] | None, typer.Option(help="county made the busiest (repeatable)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="issues per COPY batch", min=1000)] = 20_000,
    workers: Annotated[
        int | None, typer.Option(help="builder processes (default: CPUs, ≤ 8; 1 = a thread)")
    ] = None,
    streams: Annotated[
        int | None,
        typer.Option(
            help="parallel COPY connections (default 1; more need a superuser)",
            min=1,
        ),
    ] = None,
) -> None:
    """Fill the database named by DATABASE_URL (migrated, regions loaded) with enterprises,
    issues and their timelines over the last two years. Adds to what is there."""
    from bench.generator.generate import DEFAULT_BUSY
    from bench.generator.generate import generate as run

    settings = Settings()
    if not settings.database_url:
        typer.echo(
            "DATABASE_URL is not set: refusing to fill the embedded development database."
            " Point it at a database made for benchmarks, e.g."
            " DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench",
            err=True,
        )
        raise typer.Exit(code=2)
    anchor = None
    if now is not None:
        anchor = dt.datetime.fromisoformat(now)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=dt.UTC)
    report = asyncio.run(
        run(
            settings.database_url,
            issues,
            seed,
            enterprises,
            now=anchor,
            root=root,
            busy=tuple(busy) if busy else DEFAULT_BUSY,
            batch_size=batch_size,
            workers=workers,
            streams=streams,
            progress=lambda msg: typer.echo(msg, err=True),
        )
    )
    for line in report.lines():
        typer.echo(line)
