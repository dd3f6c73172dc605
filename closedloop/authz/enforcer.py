"""The Casbin enforcer: model and policy are data files loaded once at start."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import casbin

from closedloop.authz.roles import Action, Principal, Role, Target
from closedloop.domain.regions import Relation, relation


@lru_cache
def get_enforcer() -> casbin.FastEnforcer:
    base = resources.files("closedloop") / "authz"
    # FastEnforcer narrows the policy to the request's role before matching (an index on
    # the first field), so a check scans a role's dozen rules, not the whole policy.
    return casbin.FastEnforcer(
        str(base / "model.conf"), str(base / "policy.csv"), cache_key_order=[0]
    )


@lru_cache(maxsize=4096)
def allowed(role: Role, action: Action, target: Target) -> bool:
    """Role x action x target, memoised: the policy is immutable for a process's life."""
    return bool(get_enforcer().enforce(role.value, action.value, target.value))


@lru_cache(maxsize=256)
def allowed_targets(role: Role, action: Action) -> frozenset[Target]:
    """Every target on which ``role`` may do ``action``."""
    return frozenset(target for target in Target if allowed(role, action, target))


_TARGET_OF = {r: Target(r.value) for r in Relation}


def relation_target(principal_region: str, region_code: str) -> Target:
    """The policy's target for ``region_code`` seen from ``principal_region``."""
    return _TARGET_OF[relation(principal_region, region_code)]


def region_target(principal: Principal, region_code: str) -> Target:
    """How a region relates to the principal (an enterprise is placed at its own region)."""
    if principal.region_code is None:
        return Target.UNRELATED
    return relation_target(principal.region_code, region_code)


def can(principal: Principal, action: Action, target: Target) -> bool:
    if principal.role is None:
        return False
    return allowed(principal.role, action, target)


def can_on_region(principal: Principal, action: Action, region_code: str) -> bool:
    return can(principal, action, region_target(principal, region_code))
