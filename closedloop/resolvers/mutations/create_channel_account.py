"""``createChannelAccount``: an ADMIN creates a channel system's service account (role
CHANNEL, bound to a channel and a region of its own subtree) with its client credentials;
the secret is in this answer only."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import account_errors
from closedloop.schema.channel_accounts import (
    ChannelCredentialsPayload,
    CreateChannelAccountInput,
)
from closedloop.schema.context import Info
from closedloop.services.channels import clients


async def resolve(info: Info, input: CreateChannelAccountInput) -> ChannelCredentialsPayload:
    ctx = info.context
    cmd = clients.NewChannelAccount(input.channel.value, input.region_code, input.name)
    try:
        made = await clients.create_channel_account(
            ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key
        )
    except AccountError as exc:
        return ChannelCredentialsPayload.failed(account_errors(info, exc))
    return ChannelCredentialsPayload.made(made)
