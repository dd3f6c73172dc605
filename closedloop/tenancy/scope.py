"""Who sees which issue: one rule, as a SQL predicate (lists, counts, loaders) and in
Python (a single loaded row). DESIGN §3:

- an enterprise sees its own enterprise's issues;
- center staff, leaders and evaluators of R see issues originating in R's subtree or
  held anywhere in it;
- a board or department handler sees what is assigned to its board/department in R;
- a province monitor or admin sees everything in its subtree;
- the anonymous caller sees nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role, Target
from closedloop.db import tables as t
from closedloop.domain.regions import relation, subtree_upper_bound


def in_subtree(column: sa.ColumnElement[str], root: str) -> sa.ColumnElement[bool]:
    """``column`` is ``root`` or below it: an index range scan under the C collation."""
    return sa.and_(column >= root, column < subtree_upper_bound(root))


def issue_visibility(p: Principal, issue: sa.Table = t.issue) -> sa.ColumnElement[bool]:
    if p.role is None or p.account_id is None:
        return sa.false()
    if p.role is Role.ENTERPRISE:
        return issue.c.enterprise_id == p.enterprise_id if p.enterprise_id else sa.false()
    region = p.region_code
    if region is None:
        return sa.false()
    if p.role in (Role.BOARD_HANDLER, Role.DEPARTMENT_HANDLER):
        unit = (
            issue.c.board_id == p.board_id
            if p.role is Role.BOARD_HANDLER
            else issue.c.department_id == p.department_id
        )
        return sa.and_(issue.c.holding_region_code == region, unit)
    return sa.or_(
        in_subtree(issue.c.origin_region_code, region),
        in_subtree(issue.c.holding_region_code, region),
    )


def can_see_issue(
    p: Principal,
    *,
    enterprise_id: int,
    origin_region: str,
    holding_region: str,
    board_id: int | None,
    department_id: int | None,
) -> bool:
    """The same rule as ``issue_visibility`` for one row already in memory."""
    if p.role is None or p.account_id is None:
        return False
    if p.role is Role.ENTERPRISE:
        return p.enterprise_id is not None and enterprise_id == p.enterprise_id
    region = p.region_code
    if region is None:
        return False
    if p.role is Role.BOARD_HANDLER:
        return holding_region == region and board_id is not None and board_id == p.board_id
    if p.role is Role.DEPARTMENT_HANDLER:
        return (
            holding_region == region
            and department_id is not None
            and department_id == p.department_id
        )
    return origin_region.startswith(region) or holding_region.startswith(region)


def issue_target(
    p: Principal,
    *,
    enterprise_id: int,
    holding_region: str,
    board_id: int | None,
    department_id: int | None,
) -> Target:
    """How an issue relates to the caller, for the policy: acting is about the holder."""
    if p.role is Role.ENTERPRISE:
        return Target.OWN if enterprise_id == p.enterprise_id else Target.UNRELATED
    if p.region_code is None:
        return Target.UNRELATED
    if p.role in (Role.BOARD_HANDLER, Role.DEPARTMENT_HANDLER) and holding_region == p.region_code:
        unit, mine = (
            (board_id, p.board_id)
            if p.role is Role.BOARD_HANDLER
            else (department_id, p.department_id)
        )
        if unit is not None and unit == mine:
            return Target.ASSIGNED
    return Target(relation(p.region_code, holding_region).value)
