"""``updateWebhookEndpoint``: change an endpoint of the ADMIN's subtree, rotate its secret,
or switch it off (``active: false``)."""

from __future__ import annotations

from closedloop.domain.rules import RuleError
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.schema.rules import (
    UpdateWebhookEndpointInput,
    WebhookEndpoint,
    WebhookEndpointPayload,
    rule_errors,
)
from closedloop.services.rules import webhooks


async def resolve(info: Info, input: UpdateWebhookEndpointInput) -> WebhookEndpointPayload:
    ctx = info.context
    change = webhooks.WebhookInput(
        region_code=input.region_code.strip() if input.region_code is not None else None,
        url=input.url,
        secret=input.secret,
        event_kinds=tuple(input.event_kinds) if input.event_kinds is not None else None,
        active=input.active,
    )
    try:
        rec = await webhooks.update_endpoint(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "WebhookEndpoint") or -1,
            input.expected_version,
            change,
            input.idempotency_key,
        )
    except RuleError as exc:
        return WebhookEndpointPayload(endpoint=None, errors=rule_errors(info, exc))
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_record(rec), errors=[])
