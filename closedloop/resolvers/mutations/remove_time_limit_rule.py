"""``removeTimeLimitRule``: an ADMIN removes a regional rule of its subtree; the rule above
it applies again to clocks that start afterwards."""

from __future__ import annotations

from closedloop.domain.rules import RuleError
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.schema.rules import (
    RemoveTimeLimitRuleInput,
    TimeLimitRule,
    TimeLimitRulePayload,
    rule_errors,
)
from closedloop.services.rules import time_limits


async def resolve(info: Info, input: RemoveTimeLimitRuleInput) -> TimeLimitRulePayload:
    ctx = info.context
    try:
        rec = await time_limits.remove_rule(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "TimeLimitRule") or -1,
            input.expected_version,
        )
    except RuleError as exc:
        return TimeLimitRulePayload(rule=None, errors=rule_errors(info, exc))
    return TimeLimitRulePayload(rule=TimeLimitRule.from_record(rec), errors=[])
