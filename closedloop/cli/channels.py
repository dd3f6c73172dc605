"""``closedloop channels create|rotate-secret``: channel systems' service accounts and their
client credentials (``closedloop.services.channels.clients``)."""

from __future__ import annotations

from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings

channels_app = typer.Typer(help="channel systems (12345, 浙里办, 好差评…) as service accounts")


@channels_app.command("create")
def create(
    channel: Annotated[str, typer.Option(help="the channel key, e.g. HOTLINE_12345")],
    region: Annotated[str, typer.Option(help="the region whose center takes its issues in")],
    name: Annotated[str, typer.Option(help="display name, e.g. 湖州市12345热线")],
) -> None:
    """Create a service account bound to CHANNEL and REGION; prints its client id and its
    secret (shown this once: only a hash is stored)."""
    from closedloop.domain.clock import SystemClock
    from closedloop.services.channels.clients import ChannelClientError, create_channel_account

    async def go() -> None:
        async with database_for(Settings()) as db:
            made = await create_channel_account(
                db, SystemClock(), channel=channel, region_code=region, display_name=name
            )
        typer.echo(f"client_id={made.client_id}")
        typer.echo(f"client_secret={made.client_secret}")

    try:
        run_coroutine(go())
    except ChannelClientError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None


@channels_app.command("rotate-secret")
def rotate(client_id: Annotated[str, typer.Argument(help="the client id")]) -> None:
    """Give a client a new secret (printed once); the old one stops working at once."""
    from closedloop.domain.clock import SystemClock
    from closedloop.services.channels.clients import ChannelClientError, rotate_secret

    async def go() -> str:
        async with database_for(Settings()) as db:
            return await rotate_secret(db, SystemClock(), client_id)

    try:
        secret = run_coroutine(go())
    except ChannelClientError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"client_secret={secret}")
