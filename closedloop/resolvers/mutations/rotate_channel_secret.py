"""``rotateChannelSecret``: a new secret for a channel account the caller manages. The old
secret stops working at once, and so does every token issued under it: this process
forgets the account now, the account's NOTIFY every other process."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import account_errors
from closedloop.schema.channel_accounts import (
    ChannelCredentialsPayload,
    RotateChannelSecretInput,
)
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.services.channels import clients


async def resolve(info: Info, input: RotateChannelSecretInput) -> ChannelCredentialsPayload:
    ctx = info.context
    try:
        made = await clients.rotate_secret(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.account_id, "Account") or -1,
            input.expected_version,
            input.idempotency_key,
        )
    except AccountError as exc:
        return ChannelCredentialsPayload.failed(account_errors(info, exc))
    ctx.account_changed(made.account.username)
    return ChannelCredentialsPayload.made(made)
