"""The region a rule or an endpoint is set for: well formed, existing, and in the
administrator's subtree (``rules.manage``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action
from closedloop.domain.regions import is_valid_code
from closedloop.domain.rules import RuleError
from closedloop.domain.rules import RuleErrorCode as E
from closedloop.services.accounts.records import region_exists
from closedloop.services.accounts.unit import Actor, may


async def check_region(conn: AsyncConnection, actor: Actor, region: str) -> None:
    if not is_valid_code(region):
        raise RuleError(E.INVALID_REGION_CODE, "regionCode")
    if not await region_exists(conn, region):
        raise RuleError(E.REGION_NOT_FOUND, "regionCode")
    if not may(actor, Action.RULES_MANAGE, region):
        raise RuleError(E.REGION_OUT_OF_SCOPE, "regionCode")
