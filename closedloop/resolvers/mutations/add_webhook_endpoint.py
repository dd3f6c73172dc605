"""``addWebhookEndpoint``: an ADMIN adds where the notifications of its subtree are posted
(URL, shared HMAC secret, event kinds)."""

from __future__ import annotations

from closedloop.domain.rules import RuleError
from closedloop.schema.context import Info
from closedloop.schema.rules import (
    AddWebhookEndpointInput,
    WebhookEndpoint,
    WebhookEndpointPayload,
    rule_errors,
)
from closedloop.services.rules import webhooks


async def resolve(info: Info, input: AddWebhookEndpointInput) -> WebhookEndpointPayload:
    ctx = info.context
    new = webhooks.WebhookInput(
        region_code=input.region_code.strip(),
        url=input.url,
        secret=input.secret,
        event_kinds=tuple(input.event_kinds),
    )
    try:
        rec = await webhooks.add_endpoint(
            ctx.db, ctx.clock, ctx.principal, new, input.idempotency_key
        )
    except RuleError as exc:
        return WebhookEndpointPayload(endpoint=None, errors=rule_errors(info, exc))
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_record(rec), errors=[])
