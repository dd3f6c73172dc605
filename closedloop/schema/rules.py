"""Time-limit rules and webhook endpoints: types, inputs, payloads, and their errors
(``RuleErrorCode``, ``closedloop.domain.rules``)."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop import i18n
from closedloop.domain.issues import Category
from closedloop.domain.rules import RuleError as RuleFailure
from closedloop.domain.rules import RuleErrorCode
from closedloop.schema.context import Info
from closedloop.schema.node_registry import register_node
from closedloop.schema.payloads import UserError
from closedloop.schema.reference import resolve_cached
from closedloop.schema.relay import Node, to_global_id
from closedloop.schema.tenancy import Region
from closedloop.services.rules import webhooks
from closedloop.services.rules.time_limits import TimeLimitRuleRecord
from closedloop.services.rules.webhooks import WebhookRecord

strawberry.enum(RuleErrorCode, name="RuleErrorCode", description="规则与推送地址管理错误")


@strawberry.type(description="规则与推送地址管理错误 / a rules administration error")
class RuleError(UserError):
    code: RuleErrorCode


def rule_errors(info: Info, exc: RuleFailure) -> list[RuleError]:
    return [RuleError(code=exc.code, message=exc.message(info.context.locale), field=exc.field)]


@strawberry.type(description="时限规则 / a time-limit rule (per region subtree and category)")
class TimeLimitRule(Node):
    region_code: str | None = strawberry.field(description="null: 全省默认 / the default")
    category: Category | None = strawberry.field(description="null: 任意类别 / any category")
    assign_days: int = strawberry.field(description="受理后交办时限（天）/ days to assign")
    reply_days: int = strawberry.field(description="交办后答复时限（天）/ days to reply")
    working_days: bool = strawberry.field(description="按工作日计 / counts working days")
    version: int

    @classmethod
    def from_record(cls, rec: TimeLimitRuleRecord) -> TimeLimitRule:
        return cls(
            id=to_global_id("TimeLimitRule", rec.id),
            region_code=rec.region_code,
            category=Category(rec.category) if rec.category else None,
            assign_days=rec.assign_days,
            reply_days=rec.reply_days,
            working_days=rec.working_days,
            version=rec.version,
        )

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        if self.region_code is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "region", self.region_code, lambda: info.context.loaders.region, Region.from_record
        )

    @strawberry.field
    def category_label(self, info: Info) -> str | None:
        if self.category is None:
            return None
        return i18n.label(self.category, info.context.locale, "Category")


@strawberry.type(description="推送地址 / a webhook endpoint of a region subtree")
class WebhookEndpoint(Node):
    region_code: str
    url: str
    event_kinds: list[str] = strawberry.field(description="空：全部 / empty: every kind")
    active: bool
    version: int
    created_at: dt.datetime
    secret_hint: str = strawberry.field(description="密钥末 4 位 / the secret's last 4")

    @classmethod
    def from_record(cls, rec: WebhookRecord) -> WebhookEndpoint:
        return cls(
            id=to_global_id("WebhookEndpoint", rec.id),
            region_code=rec.region_code,
            url=rec.url,
            event_kinds=list(rec.event_kinds),
            active=rec.active,
            version=rec.version,
            created_at=rec.created_at,
            secret_hint=webhooks.secret_hint(rec.secret),
        )


@strawberry.input
class SetTimeLimitRuleInput:
    region_code: str
    category: Category | None = None
    assign_days: int
    reply_days: int
    working_days: bool = False
    expected_version: int | None = strawberry.field(
        default=None, description="修改已有规则时 / when changing an existing rule"
    )
    idempotency_key: str | None = None


@strawberry.input
class RemoveTimeLimitRuleInput:
    id: strawberry.ID
    expected_version: int | None = None
    idempotency_key: str | None = None


@strawberry.type(description="时限规则操作结果 / the result of a time-limit rule mutation")
class TimeLimitRulePayload:
    rule: TimeLimitRule | None
    errors: list[RuleError]


@strawberry.input
class AddWebhookEndpointInput:
    region_code: str
    url: str
    secret: str = strawberry.field(description="HMAC 密钥，16–200 字符 / the shared secret")
    event_kinds: list[str] = strawberry.field(default_factory=list)
    idempotency_key: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    expected_version: int | None = None
    region_code: str | None = None
    url: str | None = None
    secret: str | None = None
    event_kinds: list[str] | None = None
    active: bool | None = None
    idempotency_key: str | None = None


@strawberry.type(description="推送地址操作结果 / the result of a webhook endpoint mutation")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    errors: list[RuleError]


@register_node("WebhookEndpoint")
async def _endpoint_node(info: Info, key: str) -> WebhookEndpoint | None:
    if not key.isdigit():
        return None
    found = await webhooks.endpoint_by_id(info.context.db, info.context.principal, int(key))
    return WebhookEndpoint.from_record(found) if found else None
