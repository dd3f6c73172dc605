"""Root fields of rules and endpoints administration: ``timeLimitRules`` (published, read
by every signed-in caller), ``webhookEndpoints`` (the caller's subtree, ADMIN only) and
their four mutations (one module each in ``closedloop.resolvers.mutations``)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from closedloop.resolvers.fields import signed_in_mutation
from closedloop.resolvers.mutations import (
    add_webhook_endpoint,
    remove_time_limit_rule,
    set_time_limit_rule,
    update_webhook_endpoint,
)
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.evaluation.args import check_region
from closedloop.schema.paging import as_text, paging
from closedloop.schema.payloads import SignedIn
from closedloop.schema.relay import Connection, encode_cursor, make_connection
from closedloop.schema.rules import (
    TimeLimitRule,
    TimeLimitRulePayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)
from closedloop.schema.schemes import SchemeValidation, validation_of
from closedloop.services.rules import time_limits, webhooks


def _connection(info: Info, items: list[Any], first: int | None, after: str | None) -> Any:
    """A page of a short list held in memory, cursors by id."""
    size, cursor = paging(info.context.locale, first, after, as_text)
    ids = [str(n.id) for n in items]
    start = 0
    if cursor is not None:
        if cursor not in ids:
            raise PublicError(
                "INVALID_PAGING", "unknown cursor", info.context.locale, field="after"
            )
        start = ids.index(cursor) + 1
    return make_connection(
        items[start : start + size + 1],
        lambda n: encode_cursor(str(n.id)),
        size,
        len(items),
        after=after is not None,
    )


@strawberry.type
class RulesQuery:
    @strawberry.field(
        description="时限规则（公开；按地区筛选时含上级适用规则）/ the published time-limit rules",
        permission_classes=[SignedIn],
    )
    async def time_limit_rules(
        self,
        info: Info,
        region_within: str | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> Connection[TimeLimitRule]:
        if region_within is not None:
            check_region(info, region_within, "regionWithin")
        async with info.context.db.read_reference() as conn:
            rules = await time_limits.list_rules(conn, region_within)
        items = [TimeLimitRule.from_record(r) for r in rules]
        return _connection(info, items, first, after)  # type: ignore[no-any-return]

    @strawberry.field(
        description="检查评价方案文件（不保存）/ check a scoring scheme document (nothing stored)",
        permission_classes=[SignedIn],
    )
    def validate_scoring_scheme(self, info: Info, document: JSON) -> SchemeValidation:
        return validation_of(info, document)

    @strawberry.field(description="推送地址（管理范围内）/ webhook endpoints the caller manages")
    async def webhook_endpoints(
        self, info: Info, first: int | None = 100, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        p = info.context.principal
        found = [] if p.is_anonymous else await webhooks.list_endpoints(info.context.db, p)
        items = [WebhookEndpoint.from_record(r) for r in found]
        return _connection(info, items, first, after)  # type: ignore[no-any-return]


@strawberry.type
class RulesMutation:
    set_time_limit_rule: TimeLimitRulePayload = signed_in_mutation(
        set_time_limit_rule, "设置时限规则 / set the time limits of a region and category"
    )
    remove_time_limit_rule: TimeLimitRulePayload = signed_in_mutation(
        remove_time_limit_rule, "删除地区时限规则 / remove a regional rule"
    )
    add_webhook_endpoint: WebhookEndpointPayload = signed_in_mutation(
        add_webhook_endpoint, "新增推送地址 / add a webhook endpoint"
    )
    update_webhook_endpoint: WebhookEndpointPayload = signed_in_mutation(
        update_webhook_endpoint, "修改或停用推送地址 / change or switch off an endpoint"
    )
