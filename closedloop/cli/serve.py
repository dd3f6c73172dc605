"""``closedloop serve``: run the API."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from closedloop.observability import configure_logging
from closedloop.settings import Settings, UnsafeSettings


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed the demo data set once")] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes sharing the port (uvicorn's)")
    ] = 1,
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
    from closedloop.http.process import load_schemes

    problems = settings.problems() + load_schemes(settings)
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
    metrics_dir = _metrics_dir() if workers > 1 else None
    try:
        uvicorn.run(
            "closedloop.http.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=None,
            access_log=access_log,
            # No permessage-deflate: a subscription frame is a few hundred bytes of JSON,
            # and each socket would compress its own copy of every frame (bench/RESULTS.md,
            # "Subscriptions without per-socket compression").
            ws_per_message_deflate=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> Path | None:
    """Several workers: their metrics go to one folder that ``/metrics`` adds up
    (prometheus_client's multiprocess mode; the workers inherit the variable). A folder
    given in ``PROMETHEUS_MULTIPROC_DIR`` is emptied of an earlier run's samples; else a
    temporary one is made, and removed at exit (returned)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink()
        return None
    made = tempfile.mkdtemp(prefix="closedloop-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return Path(made)
