"""``closedloop relay``: deliver outbox notifications to the configured webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings

relay_app = typer.Typer(help="Deliver outbox notifications (webhooks, or the log by default)")


@relay_app.callback()
def relay() -> None:
    """Deliver outbox notifications (webhooks, or the log by default)."""
    # A callback keeps ``relay`` a command group, so the command is always ``relay run``.


@relay_app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="deliver what is due, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 5.0,
    limit: Annotated[int, typer.Option(help="rows per batch")] = 100,
) -> None:
    """Deliver due notifications; loop until SIGINT/SIGTERM unless --once."""
    from closedloop.domain.clock import SystemClock
    from closedloop.services.outbox_relay import OutboxRelay

    settings = Settings()

    async def go() -> None:
        async with database_for(settings) as db:
            relay = OutboxRelay(db, SystemClock(), settings)
            if once:
                report = await relay.deliver_due(limit)
                typer.echo(
                    f"picked {report.picked}, delivered {report.delivered}, "
                    f"retrying {report.retried}, failed {report.failed}"
                )
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                # Finish the current batch and close the database cleanly on a signal.
                with contextlib.suppress(NotImplementedError):  # not on Windows
                    loop.add_signal_handler(sig, stop.set)
            await relay.run_forever(interval, stop, limit)

    run_coroutine(go())
