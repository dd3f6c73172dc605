"""The enterprise as GraphQL, and who reads it through ``node(id)`` (``enterprise.read``)."""

from __future__ import annotations

import strawberry

from closedloop.authz.enforcer import can, region_target
from closedloop.authz.roles import Action, Target
from closedloop.schema.context import Info
from closedloop.schema.node_registry import register_node
from closedloop.schema.reference import resolve_cached
from closedloop.schema.relay import Node, to_global_id
from closedloop.schema.tenancy import Region
from closedloop.services.issues.records import EnterpriseRecord


@strawberry.type(description="企业 / an enterprise")
class Enterprise(Node):
    name: str
    credit_code: str = strawberry.field(description="统一社会信用代码")
    contact_name: str | None = strawberry.field(description="联系人 / contact person")
    contact_phone: str | None = strawberry.field(description="联系电话 / contact phone")
    version: int = strawberry.field(description="乐观锁版本 / for expectedVersion")
    region_code: strawberry.Private[str]

    @classmethod
    def from_record(cls, rec: EnterpriseRecord) -> Enterprise:
        return cls(
            id=to_global_id("Enterprise", rec.id),
            name=rec.name,
            credit_code=rec.credit_code,
            contact_name=rec.contact_name,
            contact_phone=rec.contact_phone,
            version=rec.version,
            region_code=rec.region_code,
        )

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region", self.region_code, lambda: info.context.loaders.region, Region.from_record
        )


@register_node("Enterprise")
async def _enterprise_node(info: Info, key: str) -> Enterprise | None:
    """The policy's ``enterprise.read``: an enterprise reads itself (OWN), staff the
    enterprises of the regions the policy grants (how its region relates to theirs)."""
    if not key.isdigit():
        return None
    p = info.context.principal
    rec = await info.context.loaders.enterprise.load(int(key))
    if rec is None:
        return None
    target = Target.OWN if p.enterprise_id == rec.id else region_target(p, rec.region_code)
    return Enterprise.from_record(rec) if can(p, Action.ENTERPRISE_READ, target) else None
