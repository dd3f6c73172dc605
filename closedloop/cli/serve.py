"""``closedloop serve``: run the API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from closedloop.observability import configure_logging
from closedloop.settings import Settings, UnsafeSettings


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
