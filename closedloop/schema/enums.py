"""GraphQL enums; their zh-CN/English labels live in ``closedloop.i18n``."""

from __future__ import annotations

import strawberry

from closedloop.authz.roles import Role as DomainRole
from closedloop.domain.regions import RegionLevel as DomainRegionLevel

RegionLevel = strawberry.enum(DomainRegionLevel, name="RegionLevel", description="行政层级 / tier")
Role = strawberry.enum(DomainRole, name="Role", description="角色 / role")
