"""``viewer``: who the caller is, and what they may see and do."""

from __future__ import annotations

import strawberry

from closedloop import i18n
from closedloop.authz.enforcer import allowed
from closedloop.authz.roles import Action, Target
from closedloop.schema.context import Info
from closedloop.schema.enums import Role
from closedloop.schema.tenancy import Board, Department, Region


@strawberry.type(
    description="一个可执行的操作及其适用范围 / an action and the targets it applies to"
)
class Permission:
    action: str
    targets: list[str]


@strawberry.type(description="当前调用者 / the caller")
class Viewer:
    is_anonymous: bool
    username: str | None
    display_name: str
    role: Role | None
    region_code: strawberry.Private[str | None]
    board_id: strawberry.Private[int | None]
    department_id: strawberry.Private[int | None]

    @strawberry.field
    def role_label(self, info: Info) -> str | None:
        return i18n.label(self.role, info.context.locale, "Role") if self.role else None

    @strawberry.field(description="the region the account is bound to (an enterprise: its region)")
    async def region(self, info: Info) -> Region | None:
        if self.region_code is None:
            return None
        rec = await info.context.loaders.region.load(self.region_code)
        return Region.from_record(rec) if rec else None

    @strawberry.field(description="region subtrees this caller sees (code prefixes)")
    def scopes(self) -> list[str]:
        return [self.region_code] if self.region_code and not self.is_anonymous else []

    @strawberry.field
    async def board(self, info: Info) -> Board | None:
        if self.board_id is None:
            return None
        rec = await info.context.loaders.board.load(self.board_id)
        return Board.from_record(rec) if rec else None

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.department_id is None:
            return None
        rec = await info.context.loaders.department.load(self.department_id)
        return Department.from_record(rec) if rec else None

    @strawberry.field(description="the policy's grants for this caller's role")
    def permissions(self) -> list[Permission]:
        if self.role is None:
            return []
        out = []
        for action in Action:
            targets = [t.value for t in Target if allowed(self.role, action, t)]
            if targets:
                out.append(Permission(action=action.value, targets=targets))
        return out


def resolve_viewer(info: Info) -> Viewer:
    p = info.context.principal
    return Viewer(
        is_anonymous=p.is_anonymous,
        username=p.username,
        display_name=p.display_name,
        role=p.role,
        region_code=p.region_code,
        board_id=p.board_id,
        department_id=p.department_id,
    )
