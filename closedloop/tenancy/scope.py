"""Who sees which issue: one rule, as a SQL predicate (lists, counts, loaders) and in
Python (a single loaded row). The policy (``closedloop/authz/policy.csv``) decides which
relations a role reads (``issue.read``) and whose internal timeline entries it reads
(``issue.read_internal``); this module says what each relation means for an issue:

- OWN: the caller's own enterprise raised it;
- ASSIGNED: it is held in the caller's region by the caller's board or department;
- SUBMITTED: the caller's own account submitted it (a channel system's records);
- SELF, DESCENDANT, ANCESTOR, UNRELATED: how its origin region, or its holding region,
  relates to the caller's region (either one suffices).

The anonymous caller sees nothing. Row-level security mirrors the common case in the
database as a second barrier.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa

from closedloop.authz.enforcer import allowed_targets, relation_target
from closedloop.authz.roles import Action, Principal, Target
from closedloop.db import tables as t
from closedloop.domain.regions import ancestors, subtree_upper_bound

REGION_TARGETS = (Target.SELF, Target.DESCENDANT, Target.ANCESTOR, Target.UNRELATED)


def in_subtree(column: sa.ColumnElement[str], root: str) -> sa.ColumnElement[bool]:
    """``column`` is ``root`` or below it: an index range scan under the C collation."""
    return sa.and_(column >= root, column < subtree_upper_bound(root))


def _readable(p: Principal, action: Action) -> frozenset[Target]:
    if p.role is None or p.account_id is None:
        return frozenset()
    return allowed_targets(p.role, action)


def _region_clause(
    column: sa.ColumnElement[str], region: str, targets: frozenset[Target]
) -> sa.ColumnElement[bool] | None:
    """``column``'s region relates to ``region`` as one of ``targets``."""
    below = Target.SELF in targets, Target.DESCENDANT in targets
    parts: list[sa.ColumnElement[bool]] = []
    if all(below):
        parts.append(in_subtree(column, region))
    elif below[0]:
        parts.append(column == region)
    elif below[1]:
        parts.append(sa.and_(in_subtree(column, region), column != region))
    if Target.ANCESTOR in targets or Target.UNRELATED in targets:
        up = ancestors(region)
        if Target.ANCESTOR in targets and up:
            parts.append(column.in_(up))
        if Target.UNRELATED in targets:
            parts.append(sa.and_(sa.not_(in_subtree(column, region)), column.not_in(up)))
    return sa.or_(*parts) if parts else None


def region_scope(
    p: Principal, action: Action, column: sa.ColumnElement[str]
) -> sa.ColumnElement[bool]:
    """Rows whose region (``column``) relates to the caller's region as the policy grants
    ``action`` (accounts, enterprises, audit entries: ``account.read``, ``audit.read``)."""
    targets = _readable(p, action)
    if p.region_code is None or not targets:
        return sa.false()
    clause = _region_clause(column, p.region_code, targets)
    return clause if clause is not None else sa.false()


def _visibility(
    p: Principal, targets: frozenset[Target], issue: sa.Table
) -> sa.ColumnElement[bool]:
    return either_of(_visibility_parts(p, targets, issue))


def either_of(parts: list[sa.ColumnElement[bool]]) -> sa.ColumnElement[bool]:
    """The OR of visibility parts (none: nothing); not ``driver.any_of``, which is
    ``column = ANY(values)``."""
    if not parts:
        return sa.false()
    return parts[0] if len(parts) == 1 else sa.or_(*parts)


def _visibility_parts(
    p: Principal, targets: frozenset[Target], issue: sa.Table
) -> list[sa.ColumnElement[bool]]:
    c = issue.c
    parts: list[sa.ColumnElement[bool]] = []
    if Target.OWN in targets and p.enterprise_id is not None:
        parts.append(c.enterprise_id == p.enterprise_id)
    if Target.SUBMITTED in targets and p.account_id is not None:
        parts.append(c.submitted_by == p.account_id)
    region = p.region_code
    if region is not None:
        if Target.ASSIGNED in targets:
            unit = _unit_clause(p, issue)
            if unit is not None:
                parts.append(sa.and_(c.holding_region_code == region, unit))
        if targets.intersection(REGION_TARGETS):
            for column in (c.origin_region_code, c.holding_region_code):
                clause = _region_clause(column, region, targets)
                if clause is not None:
                    parts.append(clause)
    return parts


def _unit_clause(p: Principal, issue: sa.Table) -> sa.ColumnElement[bool] | None:
    if p.board_id is not None:
        return issue.c.board_id == p.board_id
    if p.department_id is not None:
        return issue.c.department_id == p.department_id
    return None


def reads_own_region(p: Principal) -> bool:
    """Whether ``p`` reads every issue held in its own region (SELF): then ``holding_region
    = its region`` implies ``issue_visibility``."""
    return p.region_code is not None and Target.SELF in _readable(p, Action.ISSUE_READ)


def reads_by_submitter(p: Principal) -> bool:
    """Whether ``p``'s scope names its own account (SUBMITTED): then a statement built for
    it is its alone."""
    return Target.SUBMITTED in _readable(p, Action.ISSUE_READ)


def issue_visibility(p: Principal, issue: sa.Table = t.issue) -> sa.ColumnElement[bool]:
    """The issues ``p`` reads, as a predicate on ``issue``."""
    return _visibility(p, _readable(p, Action.ISSUE_READ), issue)


def issue_visibility_parts(p: Principal, issue: sa.Table = t.issue) -> list[sa.ColumnElement[bool]]:
    """``issue_visibility`` as the relations it is an OR of (none: nothing)."""
    return _visibility_parts(p, _readable(p, Action.ISSUE_READ), issue)


def internal_visibility(p: Principal, issue: sa.Table = t.issue) -> sa.ColumnElement[bool]:
    """The issues whose internal records ``p`` reads (``issue.read_internal``): their
    internal timeline entries, their pushes to the seven problem lists."""
    return _visibility(p, _readable(p, Action.ISSUE_READ_INTERNAL), issue)


def _in_unit(p: Principal, board_id: int | None, department_id: int | None) -> bool:
    if p.board_id is not None:
        return board_id == p.board_id
    if p.department_id is not None:
        return department_id == p.department_id
    return False


def can_see_issue(
    p: Principal,
    *,
    enterprise_id: int,
    origin_region: str,
    holding_region: str,
    board_id: int | None,
    department_id: int | None,
    submitted_by: int | None = None,
    action: Action = Action.ISSUE_READ,
) -> bool:
    """The same rule as ``issue_visibility`` for one row already in memory (``action``
    ``issue.read_internal``: whether its internal timeline entries are read too)."""
    readable = _readable(p, action)
    if not readable:
        return False
    # Each relation the issue has to the caller, in turn (straight-line: every command
    # loads its issue through here).
    if Target.OWN in readable and p.enterprise_id is not None and enterprise_id == p.enterprise_id:
        return True
    if Target.SUBMITTED in readable and p.account_id is not None and submitted_by == p.account_id:
        return True
    region = p.region_code
    if region is None:
        return False
    if (
        Target.ASSIGNED in readable
        and holding_region == region
        and _in_unit(p, board_id, department_id)
    ):
        return True
    return (
        relation_target(region, origin_region) in readable
        or relation_target(region, holding_region) in readable
    )


class Internal(enum.Enum):
    """Whose internal timeline entries a caller reads, among the issues it reads."""

    ALL = "all"  # every issue it reads (the policy grants read_internal wherever read)
    NONE = "none"  # no issue: public entries only
    SOME = "some"  # decided per issue (``can_see_issue(..., action=ISSUE_READ_INTERNAL)``)


def internal_entries(p: Principal) -> Internal:
    internal = _readable(p, Action.ISSUE_READ_INTERNAL)
    if not internal:
        return Internal.NONE
    if _readable(p, Action.ISSUE_READ) <= internal:
        return Internal.ALL
    return Internal.SOME


def issue_target(
    p: Principal,
    *,
    enterprise_id: int,
    holding_region: str,
    board_id: int | None,
    department_id: int | None,
) -> Target:
    """How an issue relates to the caller, for the policy: acting is about the holder."""
    if p.enterprise_id is not None:
        return Target.OWN if enterprise_id == p.enterprise_id else Target.UNRELATED
    if p.region_code is None:
        return Target.UNRELATED
    if holding_region == p.region_code and _in_unit(p, board_id, department_id):
        return Target.ASSIGNED
    return relation_target(p.region_code, holding_region)
