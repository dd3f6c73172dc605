"""Roles, actions and the principal (who is calling)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    ENTERPRISE = "ENTERPRISE"
    CENTER_STAFF = "CENTER_STAFF"
    BOARD_HANDLER = "BOARD_HANDLER"
    DEPARTMENT_HANDLER = "DEPARTMENT_HANDLER"
    LEADER = "LEADER"
    EVALUATOR = "EVALUATOR"
    PROVINCE_MONITOR = "PROVINCE_MONITOR"
    ADMIN = "ADMIN"
    # A channel system's service account (the 12345 hotline, 浙里办, 好差评…): bound to one
    # channel and a region, it pushes issues in and reads back only the ones it sent.
    CHANNEL = "CHANNEL"


STAFF_ROLES = frozenset(Role) - {Role.ENTERPRISE, Role.CHANNEL}


class Action(enum.StrEnum):
    REGION_READ = "region.read"
    CENTER_READ = "center.read"
    ISSUE_READ = "issue.read"
    ISSUE_READ_INTERNAL = "issue.read_internal"
    ISSUE_SUBMIT = "issue.submit"
    ISSUE_SUBMIT_ON_BEHALF = "issue.submit_on_behalf"
    # A channel system taking in its own records (bound to its channel).
    ISSUE_SUBMIT_FROM_CHANNEL = "issue.submit_from_channel"
    ISSUE_ACCEPT = "issue.accept"
    ISSUE_REJECT = "issue.reject"
    ISSUE_MERGE = "issue.merge"
    ISSUE_TRIAGE = "issue.triage"
    ISSUE_ASSIGN = "issue.assign"
    ISSUE_START = "issue.start"
    ISSUE_NOTE = "issue.note"
    ISSUE_HAND_BACK = "issue.hand_back"
    ISSUE_ESCALATE = "issue.escalate"
    ISSUE_DELEGATE = "issue.delegate"
    ISSUE_RETURN = "issue.return"
    ISSUE_RESOLVE = "issue.resolve"
    ISSUE_REOPEN = "issue.reopen"
    ISSUE_RATE = "issue.rate"
    ISSUE_URGE = "issue.urge"
    ISSUE_VERIFY = "issue.verify"
    ISSUE_PUSH_PROBLEM_LIST = "issue.push_problem_list"
    MEETING_DECIDE = "meeting.decide"
    INDICATOR_RECORD = "indicator.record"
    LIST_ENTRY_ADD = "list_entry.add"
    SCORE_READ = "score.read"
    DASHBOARD_READ = "dashboard.read"
    CASE_SHARE = "case.share"
    CASE_READ = "case.read"
    ENTERPRISE_READ = "enterprise.read"
    ACCOUNT_READ = "account.read"
    # Create, change and deactivate accounts whose region relates so; grant a role at a
    # region that relates so (an ADMIN never grants outside its own subtree).
    ACCOUNT_MANAGE = "account.manage"
    ENTERPRISE_MANAGE = "enterprise.manage"
    AUDIT_READ = "audit.read"
    # Time-limit rules and webhook endpoints of a region's subtree.
    RULES_MANAGE = "rules.manage"
    # Scoring scheme versions (stored at the province: the region they apply below):
    # read them, upload a draft, activate one from a period (the province admin only).
    SCHEME_READ = "scheme.read"
    SCHEME_UPLOAD = "scheme.upload"
    SCHEME_ACTIVATE = "scheme.activate"


class Target(enum.StrEnum):
    """How the target relates to the principal, as the policy sees it.

    Region relations (SELF, DESCENDANT, ANCESTOR, UNRELATED) compare region codes;
    OWN marks an enterprise's own issue, ASSIGNED an issue assigned to the handler's
    own board or department in its region, SUBMITTED an issue the caller's own account
    submitted (a channel system's records).
    """

    SELF = "SELF"
    DESCENDANT = "DESCENDANT"
    ANCESTOR = "ANCESTOR"
    UNRELATED = "UNRELATED"
    OWN = "OWN"
    ASSIGNED = "ASSIGNED"
    SUBMITTED = "SUBMITTED"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``account_id`` is ``None`` for the anonymous viewer."""

    account_id: int | None
    username: str | None
    display_name: str
    role: Role | None
    region_code: str | None = None
    board_id: int | None = None
    department_id: int | None = None
    enterprise_id: int | None = None
    # A channel account's current secret, fingerprinted (``closedloop_principal``, migration
    # 0021): a channel token issued under another secret no longer signs it in.
    credentials: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.account_id is None


ANONYMOUS = Principal(account_id=None, username=None, display_name="anonymous", role=None)
