"""``updateAccount``: change an account's name or binding, or reactivate it, within the
ADMIN's subtree; the change applies to the account's next request in every process."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import (
    Account,
    AccountPayload,
    UpdateAccountInput,
    account_errors,
    to_binding,
)
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.services.accounts import accounts


async def resolve(info: Info, input: UpdateAccountInput) -> AccountPayload:
    ctx = info.context
    change = accounts.AccountChange(
        display_name=input.display_name,
        binding=to_binding(input.binding) if input.binding is not None else None,
        active=input.active,
    )
    try:
        rec = await accounts.update_account(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "Account") or -1,
            input.expected_version,
            change,
            input.idempotency_key,
        )
    except AccountError as exc:
        return AccountPayload(account=None, errors=account_errors(info, exc))
    ctx.account_changed(rec.username)
    return AccountPayload(account=Account.from_record(rec), errors=[])
