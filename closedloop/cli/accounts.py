"""``closedloop accounts``: create, list and deactivate accounts from the command line,
through the same services (and rules) as the API. Without ``--as`` the operator acts for
the whole tree (the first province admin is made this way) and the audit log names
``cli:<login>``; with ``--as USERNAME`` the command runs as that account, in its scope."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from closedloop.authz.roles import Role
from closedloop.cli.support import database_for, run_coroutine
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError
from closedloop.domain.clock import SystemClock
from closedloop.services.accounts import accounts as service
from closedloop.services.accounts import queries
from closedloop.services.accounts.records import AccountRecord
from closedloop.services.accounts.unit import Actor, Operator, open_unit
from closedloop.settings import Settings

accounts_app = typer.Typer(help="Administer accounts (staff and enterprise users)")

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", help="act as this ADMIN account (default: the operator)", metavar="USERNAME"
    ),
]


async def actor_for(db: Database, username: str | None) -> Actor:
    if username is None:
        return Operator(f"cli:{getpass.getuser()}")
    from closedloop.identity.accounts import principal_for

    async with db.read_reference() as conn:
        principal = await principal_for(conn, username)
    if principal is None:
        raise typer.BadParameter(f"unknown or inactive account: {username}", param_hint="--as")
    return principal


def failure(exc: AccountError) -> typer.Exit:
    typer.echo(f"{exc.code.value}: {exc.message('en')} [{exc.field or '-'}]", err=True)
    return typer.Exit(code=1)


@accounts_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="the login name")],
    name: Annotated[str, typer.Option("--name", help="display name")],
    role: Annotated[Role, typer.Option(case_sensitive=False, metavar="ROLE")],
    region: Annotated[str | None, typer.Option(help="region code (staff)")] = None,
    board: Annotated[str | None, typer.Option(help="board key, e.g. TALENT")] = None,
    department: Annotated[str | None, typer.Option(help="department key")] = None,
    enterprise: Annotated[
        str | None, typer.Option(help="credit code of the enterprise (enterprise users)")
    ] = None,
    as_: AsOption = None,
) -> None:
    """Create an account; prints its id. Exits 1 with the error code on bad input."""
    settings = Settings()

    async def go() -> AccountRecord:
        async with database_for(settings) as db:
            actor = await actor_for(db, as_)
            async with open_unit(db, actor) as conn:
                binding = await service.binding_by_keys(
                    conn, role, region, board=board, department=department, credit_code=enterprise
                )
            return await service.create_account(
                db, SystemClock(), actor, service.NewAccount(username, name, binding)
            )

    try:
        rec = run_coroutine(go())
    except AccountError as exc:
        raise failure(exc) from exc
    typer.echo(f"created account {rec.username} (id {rec.id}, {rec.role} {rec.region_code or ''})")


@accounts_app.command("list")
def list_accounts(
    region_within: Annotated[str | None, typer.Option(help="region code prefix")] = None,
    role: Annotated[Role | None, typer.Option(case_sensitive=False, metavar="ROLE")] = None,
    inactive: Annotated[bool, typer.Option(help="only deactivated accounts")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_: AsOption = None,
) -> None:
    """List accounts, newest first: username, role, region, active, display name."""
    settings = Settings()
    f = queries.AccountFilter(
        role=role, region_within=region_within, active=False if inactive else None
    )

    async def go() -> tuple[list[AccountRecord], int]:
        async with database_for(settings) as db:
            actor = await actor_for(db, as_)
            async with open_unit(db, actor) as conn:
                return await queries.list_accounts(conn, actor, f, limit, None)

    rows, total = run_coroutine(go())
    for r in rows:
        state = "active" if r.active else "inactive"
        typer.echo(f"{r.username}\t{r.role}\t{r.region_code or '-'}\t{state}\t{r.display_name}")
    typer.echo(f"{len(rows)} of {total}", err=True)


@accounts_app.command("deactivate")
def deactivate(
    username: Annotated[str, typer.Argument(help="the account to deactivate")],
    as_: AsOption = None,
) -> None:
    """Deactivate an account; its next request is refused, whatever token it holds."""
    settings = Settings()

    async def go() -> AccountRecord:
        async with database_for(settings) as db:
            actor = await actor_for(db, as_)
            async with open_unit(db, actor) as conn:
                account_id = await service.account_id_by_username(conn, actor, username)
            return await service.deactivate_account(db, SystemClock(), actor, account_id, None)

    try:
        rec = run_coroutine(go())
    except AccountError as exc:
        raise failure(exc) from exc
    typer.echo(f"deactivated {rec.username}")
