"""``deactivateAccount``: takes effect at once. This process forgets the account now; the
account trigger's NOTIFY (migration 0011) makes every other API process forget it, so its
next request with a still-valid token is refused (401)."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import (
    Account,
    AccountPayload,
    DeactivateAccountInput,
    account_errors,
)
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.services.accounts import accounts


async def resolve(info: Info, input: DeactivateAccountInput) -> AccountPayload:
    ctx = info.context
    try:
        rec = await accounts.deactivate_account(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "Account") or -1,
            input.expected_version,
            input.idempotency_key,
        )
    except AccountError as exc:
        return AccountPayload(account=None, errors=account_errors(info, exc))
    ctx.account_changed(rec.username)
    return AccountPayload(account=Account.from_record(rec), errors=[])
