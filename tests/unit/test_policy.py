"""The permission matrix: every role x action x how the target relates to the caller.

The expectations are written out here independently of ``policy.csv`` so a change to
the policy file that widens or narrows a grant fails this test.
"""

from __future__ import annotations

import pytest

from closedloop.authz.enforcer import allowed, can, can_on_region, region_target
from closedloop.authz.roles import ANONYMOUS, Action, Principal, Role, Target

A = Action
WORK = {
    A.ISSUE_ACCEPT,
    A.ISSUE_REJECT,
    A.ISSUE_MERGE,
    A.ISSUE_TRIAGE,
    A.ISSUE_ASSIGN,
    A.ISSUE_NOTE,
    A.ISSUE_ESCALATE,
    A.ISSUE_RETURN,
    A.ISSUE_DELEGATE,
    A.ISSUE_RESOLVE,
    A.ISSUE_REOPEN,
    A.ISSUE_VERIFY,
    A.CASE_SHARE,
}
SCOPED_READ = {
    A.CENTER_READ,
    A.ISSUE_READ,
    A.ISSUE_READ_INTERNAL,
    A.ENTERPRISE_READ,
    A.DASHBOARD_READ,
    A.SCORE_READ,
}
SELF_DOWN = {Target.SELF, Target.DESCENDANT}
SELF_UP = {Target.SELF, Target.ANCESTOR}

# role -> action -> the targets on which it is allowed (anything absent: denied everywhere)
EXPECTED: dict[Role, dict[Action, set[Target]]] = {
    Role.ENTERPRISE: {
        A.CENTER_READ: {Target.SELF},
        A.ENTERPRISE_READ: {Target.OWN},
        **{
            a: {Target.OWN}
            for a in (A.ISSUE_READ, A.ISSUE_SUBMIT, A.ISSUE_URGE, A.ISSUE_RATE, A.ISSUE_REOPEN)
        },
    },
    Role.CENTER_STAFF: {
        **{a: SELF_DOWN for a in SCOPED_READ | {A.ISSUE_SUBMIT_ON_BEHALF}},
        **{a: {Target.SELF} for a in WORK},
    },
    Role.LEADER: {
        **{a: SELF_DOWN for a in SCOPED_READ | {A.ISSUE_SUBMIT_ON_BEHALF}},
        A.SCHEME_READ: SELF_UP,
        # 流转至本级“七张问题清单”: a leader pushes what its own tier holds.
        **{a: {Target.SELF} for a in WORK | {A.MEETING_DECIDE, A.ISSUE_PUSH_PROBLEM_LIST}},
    },
    Role.BOARD_HANDLER: {
        A.CENTER_READ: {Target.SELF},
        **{
            a: {Target.ASSIGNED}
            for a in (
                A.ISSUE_READ,
                A.ISSUE_READ_INTERNAL,
                A.ISSUE_START,
                A.ISSUE_NOTE,
                A.ISSUE_RESOLVE,
                A.ISSUE_HAND_BACK,
            )
        },
    },
    Role.EVALUATOR: {
        **{a: SELF_DOWN for a in SCOPED_READ | {A.INDICATOR_RECORD, A.LIST_ENTRY_ADD}},
        # Scheme versions are stored at the province: read from below, drafted at it.
        A.SCHEME_READ: SELF_UP,
        A.SCHEME_UPLOAD: {Target.SELF},
    },
    Role.PROVINCE_MONITOR: {
        **{a: SELF_DOWN for a in SCOPED_READ | {A.AUDIT_READ}},
        A.SCHEME_READ: {Target.SELF},
    },
    # An ADMIN administers accounts and enterprises of its own subtree only, never above.
    Role.ADMIN: {
        **{
            a: SELF_DOWN
            for a in SCOPED_READ
            | {A.ACCOUNT_READ, A.ACCOUNT_MANAGE, A.ENTERPRISE_MANAGE, A.AUDIT_READ, A.RULES_MANAGE}
        },
        # A scheme version is activated at the province, by its admin alone.
        A.SCHEME_READ: SELF_UP,
        A.SCHEME_UPLOAD: {Target.SELF},
        A.SCHEME_ACTIVATE: {Target.SELF},
    },
    # A channel system: takes in records for its region's subtree, reads back its own.
    Role.CHANNEL: {A.ISSUE_SUBMIT_FROM_CHANNEL: SELF_DOWN, A.ISSUE_READ: {Target.SUBMITTED}},
}
EXPECTED[Role.DEPARTMENT_HANDLER] = EXPECTED[Role.BOARD_HANDLER]

MATRIX = [(r, a, t) for r in Role for a in Action for t in Target]


@pytest.mark.parametrize(("role", "action", "target"), MATRIX)
def test_permission_matrix(role: Role, action: Action, target: Target) -> None:
    # The region tree is public to every signed-in role; the case library to every staff
    # role (shared across the province).
    expected = (
        action is A.REGION_READ
        or (action is A.CASE_READ and role not in (Role.ENTERPRISE, Role.CHANNEL))
        or target in EXPECTED[role].get(action, set())
    )
    assert allowed(role, action, target) is expected


def staff(role: Role, region: str) -> Principal:
    return Principal(account_id=1, username="u", display_name="u", role=role, region_code=region)


@pytest.mark.parametrize(
    ("region", "target"),
    [
        ("330521", Target.SELF),
        ("330521102", Target.DESCENDANT),
        ("3305", Target.ANCESTOR),
        ("330522", Target.UNRELATED),
        ("33", Target.ANCESTOR),
        ("3301", Target.UNRELATED),
    ],
)
def test_region_targets_from_codes(region: str, target: Target) -> None:
    assert region_target(staff(Role.CENTER_STAFF, "330521"), region) is target


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    ("region", "relation"),
    [("330521", "own"), ("330521102", "descendant"), ("3305", "parent"), ("330522", "sibling")],
)
def test_center_read_for_own_descendant_parent_sibling(
    role: Role, region: str, relation: str
) -> None:
    visible = {"own": Target.SELF, "descendant": Target.DESCENDANT}.get(relation)
    expected = visible is not None and visible in EXPECTED[role].get(A.CENTER_READ, set())
    assert can_on_region(staff(role, "330521"), A.CENTER_READ, region) is expected


def test_anonymous_may_do_nothing() -> None:
    assert not any(can(ANONYMOUS, a, t) for a in Action for t in Target)
