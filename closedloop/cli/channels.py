"""``closedloop channels create|rotate-secret``: channel systems' service accounts and their
client credentials, through the use cases the API's ``createChannelAccount`` and
``rotateChannelSecret`` call (``closedloop.services.channels.clients``): the same checks,
the same audit entries. Without ``--as`` the operator acts for the whole tree."""

from __future__ import annotations

from typing import Annotated

import typer

from closedloop.cli.accounts import AsOption, actor_for, failure
from closedloop.cli.support import database_for, run_coroutine
from closedloop.domain.accounts import AccountError
from closedloop.domain.clock import SystemClock
from closedloop.services.accounts.accounts import account_id_by_username
from closedloop.services.accounts.unit import open_unit
from closedloop.services.channels.clients import (
    ChannelCredentials,
    NewChannelAccount,
    create_channel_account,
    rotate_secret,
)
from closedloop.settings import Settings

channels_app = typer.Typer(help="channel systems (12345, 浙里办, 好差评…) as service accounts")


def _print(made: ChannelCredentials) -> None:
    typer.echo(f"client_id={made.client_id}")
    typer.echo(f"client_secret={made.client_secret}")


@channels_app.command("create")
def create(
    channel: Annotated[str, typer.Option(help="the channel key, e.g. HOTLINE_12345")],
    region: Annotated[str, typer.Option(help="the region whose center takes its issues in")],
    name: Annotated[str, typer.Option(help="display name, e.g. 湖州市12345热线")],
    as_: AsOption = None,
) -> None:
    """Create a service account bound to CHANNEL and REGION; prints its client id and its
    secret (shown this once: only a hash is stored)."""

    async def go() -> ChannelCredentials:
        async with database_for(Settings()) as db:
            actor = await actor_for(db, as_)
            cmd = NewChannelAccount(channel, region, name)
            return await create_channel_account(db, SystemClock(), actor, cmd)

    try:
        _print(run_coroutine(go()))
    except AccountError as exc:
        raise failure(exc) from None


@channels_app.command("rotate-secret")
def rotate(
    client_id: Annotated[str, typer.Argument(help="the client id")],
    as_: AsOption = None,
) -> None:
    """Give a client a new secret (printed once); the old one, and the tokens issued under
    it, stop working at once."""

    async def go() -> ChannelCredentials:
        async with database_for(Settings()) as db:
            actor = await actor_for(db, as_)
            async with open_unit(db, actor) as conn:
                account_id = await account_id_by_username(conn, actor, client_id)
            return await rotate_secret(db, SystemClock(), actor, account_id, None)

    try:
        _print(run_coroutine(go()))
    except AccountError as exc:
        raise failure(exc) from None
