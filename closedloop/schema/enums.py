"""GraphQL enums; their zh-CN/English labels live in ``closedloop.i18n``.

The domain enums are registered with strawberry and re-exported, so annotations keep
their real (type-checked) classes.
"""

from __future__ import annotations

import strawberry

from closedloop.authz.roles import Role
from closedloop.domain.regions import RegionLevel

strawberry.enum(RegionLevel, name="RegionLevel", description="行政层级 / tier")
strawberry.enum(Role, name="Role", description="角色 / role")

__all__ = ["RegionLevel", "Role"]
