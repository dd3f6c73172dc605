"""``setTimeLimitRule``: an ADMIN sets the time limits of a region of its subtree (and a
category, or any): calendar or working days; clocks that start afterwards follow it."""

from __future__ import annotations

from closedloop.domain.rules import RuleError
from closedloop.schema.context import Info
from closedloop.schema.rules import (
    SetTimeLimitRuleInput,
    TimeLimitRule,
    TimeLimitRulePayload,
    rule_errors,
)
from closedloop.services.rules import time_limits


async def resolve(info: Info, input: SetTimeLimitRuleInput) -> TimeLimitRulePayload:
    ctx = info.context
    cmd = time_limits.SetTimeLimitRule(
        region_code=input.region_code.strip(),
        category=input.category,
        assign_days=input.assign_days,
        reply_days=input.reply_days,
        working_days=input.working_days,
    )
    try:
        rec = await time_limits.set_rule(
            ctx.db, ctx.clock, ctx.principal, cmd, input.expected_version, input.idempotency_key
        )
    except RuleError as exc:
        return TimeLimitRulePayload(rule=None, errors=rule_errors(info, exc))
    return TimeLimitRulePayload(rule=TimeLimitRule.from_record(rec), errors=[])
