"""``closedloop sweep``: the clock's periodic work, once."""

from __future__ import annotations

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings


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
