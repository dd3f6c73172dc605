"""``closedloop token``: a development token for an existing account."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings


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
