"""``createAccount``: an ADMIN creates a staff account (role, region[, board or
department]) or an enterprise user (enterprise) inside its own subtree."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import (
    Account,
    AccountPayload,
    CreateAccountInput,
    account_errors,
    to_binding,
)
from closedloop.schema.context import Info
from closedloop.services.accounts import accounts


async def resolve(info: Info, input: CreateAccountInput) -> AccountPayload:
    ctx = info.context
    cmd = accounts.NewAccount(input.username, input.display_name, to_binding(input.binding))
    try:
        rec = await accounts.create_account(
            ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key
        )
    except AccountError as exc:
        return AccountPayload(account=None, errors=account_errors(info, exc))
    return AccountPayload(account=Account.from_record(rec), errors=[])
