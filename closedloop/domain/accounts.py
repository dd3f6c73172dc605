"""Accounts and enterprises as data: what makes a well-formed account or enterprise, and
the error codes of their administration (zh-CN and English labels; rules and endpoints
have their own, ``closedloop.domain.rules``). Pure: the services in
``closedloop.services.accounts`` look things up and call these rules.

A staff account is (role, region[, board or department]): a board handler is bound to one
board of its region, a department handler to one department, any other staff role to
neither; a province monitor sits at a province. An enterprise user is bound to one
enterprise and has no region of its own (its enterprise's).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from closedloop import i18n
from closedloop.domain.bounds import NAME_MAX
from closedloop.domain.regions import RegionLevel

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,31}")
STAFF = frozenset(
    {
        "CENTER_STAFF",
        "BOARD_HANDLER",
        "DEPARTMENT_HANDLER",
        "LEADER",
        "EVALUATOR",
        "PROVINCE_MONITOR",
        "ADMIN",
    }
)
ENTERPRISE = "ENTERPRISE"


class AccountErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_USERNAME = "INVALID_USERNAME"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    INVALID_REGION_CODE = "INVALID_REGION_CODE"
    REGION_NOT_FOUND = "REGION_NOT_FOUND"
    REGION_OUT_OF_SCOPE = "REGION_OUT_OF_SCOPE"
    ABOVE_OWN_SCOPE = "ABOVE_OWN_SCOPE"
    BOARD_NOT_FOUND = "BOARD_NOT_FOUND"
    DEPARTMENT_NOT_FOUND = "DEPARTMENT_NOT_FOUND"
    UNIT_OF_ANOTHER_REGION = "UNIT_OF_ANOTHER_REGION"
    UNIT_REQUIRED = "UNIT_REQUIRED"
    UNIT_NOT_ALLOWED = "UNIT_NOT_ALLOWED"
    ROLE_NEEDS_PROVINCE = "ROLE_NEEDS_PROVINCE"
    ENTERPRISE_REQUIRED = "ENTERPRISE_REQUIRED"
    ENTERPRISE_NOT_ALLOWED = "ENTERPRISE_NOT_ALLOWED"
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    INVALID_CREDIT_CODE = "INVALID_CREDIT_CODE"
    CREDIT_CODE_TAKEN = "CREDIT_CODE_TAKEN"
    INVALID_PHONE = "INVALID_PHONE"
    LAST_PROVINCE_ADMIN = "LAST_PROVINCE_ADMIN"
    ALREADY_INACTIVE = "ALREADY_INACTIVE"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    NOT_A_CHANNEL_ACCOUNT = "NOT_A_CHANNEL_ACCOUNT"
    CHANNEL_ACCOUNT_RESERVED = "CHANNEL_ACCOUNT_RESERVED"


i18n.register(
    "AccountErrorCode",
    {
        **i18n.WRITE_ERROR_LABELS,
        "TOO_LONG": ("内容过长", "Too long"),
        "INVALID_USERNAME": (
            "用户名须为 3–64 位字母、数字或 . _ @ -，且以字母或数字开头",
            "A username is 3-64 letters, digits or . _ @ -, starting with a letter or digit",
        ),
        "USERNAME_TAKEN": ("用户名已被使用", "The username is taken"),
        **i18n.REGION_ERROR_LABELS,
        "ABOVE_OWN_SCOPE": (
            "不能授予高于本账号管理范围的权限",
            "You cannot grant more than your own scope",
        ),
        "BOARD_NOT_FOUND": ("服务板块不存在", "No such service board"),
        "DEPARTMENT_NOT_FOUND": ("部门不存在", "No such department"),
        "UNIT_OF_ANOTHER_REGION": (
            "板块或部门不属于该账号所在地区",
            "The board or department belongs to another region",
        ),
        "UNIT_REQUIRED": (
            "板块经办人须绑定板块，部门经办人须绑定部门",
            "A board handler needs a board, a department handler a department",
        ),
        "UNIT_NOT_ALLOWED": (
            "该角色不绑定板块或部门",
            "This role is not bound to a board or department",
        ),
        "ROLE_NEEDS_PROVINCE": (
            "省级监测员须设在省级",
            "A province monitor sits at a province",
        ),
        "ENTERPRISE_REQUIRED": ("企业用户须绑定企业", "An enterprise user needs an enterprise"),
        "ENTERPRISE_NOT_ALLOWED": (
            "工作人员账号不绑定企业",
            "A staff account is not bound to an enterprise",
        ),
        "ENTERPRISE_NOT_FOUND": ("企业不存在", "No such enterprise"),
        "INVALID_CREDIT_CODE": ("统一社会信用代码无效", "Invalid unified social credit code"),
        "CREDIT_CODE_TAKEN": (
            "该统一社会信用代码的企业已登记",
            "An enterprise with this credit code is registered already",
        ),
        "INVALID_PHONE": ("联系电话格式不正确", "Malformed phone number"),
        "LAST_PROVINCE_ADMIN": (
            "不能停用或降级最后一名省级管理员",
            "The last province administrator cannot be deactivated or demoted",
        ),
        "ALREADY_INACTIVE": ("账号已停用", "The account is deactivated already"),
        "UNKNOWN_CHANNEL": ("渠道不在渠道目录中", "No such channel in the catalog"),
        "NOT_A_CHANNEL_ACCOUNT": ("该账号不是渠道服务账号", "Not a channel system's account"),
        "CHANNEL_ACCOUNT_RESERVED": (
            "渠道服务账号须通过 createChannelAccount 创建，其绑定不可修改",
            "Channel accounts are made by createChannelAccount, and their binding stays",
        ),
    },
)


class AccountError(Exception):
    """An expected failure of account or enterprise administration: reported with its
    code and the input field at fault; nothing is written."""

    def __init__(self, code: AccountErrorCode, field: str | None = None, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.field = field
        self.detail = detail

    def message(self, locale: str) -> str:
        text = i18n.label(self.code, locale, "AccountErrorCode")
        if not self.detail:
            return text
        return f"{text} ({self.detail})" if locale == i18n.EN else f"{text}（{self.detail}）"


E = AccountErrorCode


def check_username(username: str) -> str:
    if not username:
        raise AccountError(E.REQUIRED, "username")
    if USERNAME.fullmatch(username) is None:
        raise AccountError(E.INVALID_USERNAME, "username")
    return username


def check_name(text: str | None, field: str, *, required: bool = True) -> str | None:
    """A display or enterprise name: trimmed, required unless said, at most ``NAME_MAX``."""
    value = (text or "").strip()
    if not value:
        if required:
            raise AccountError(E.REQUIRED, field)
        return None
    if len(value) > NAME_MAX:
        raise AccountError(E.TOO_LONG, field, f"≤ {NAME_MAX}")
    return value


def check_phone(text: str | None, field: str = "contactPhone") -> str | None:
    value = (text or "").strip()
    if not value:
        return None
    if PHONE.fullmatch(value) is None:
        raise AccountError(E.INVALID_PHONE, field)
    return value


@dataclass(frozen=True, slots=True)
class Binding:
    """What an account is bound to, as given (before any look-up)."""

    role: str
    region_level: RegionLevel | None  # the level of the region given; None: none given
    board: bool = False
    department: bool = False
    enterprise: bool = False


def check_binding(b: Binding) -> None:
    """The shape of (role, region[, board or department]) or (enterprise)."""
    if b.role == ENTERPRISE:
        if not b.enterprise:
            raise AccountError(E.ENTERPRISE_REQUIRED, "enterpriseId")
        if b.region_level is not None:
            raise AccountError(E.UNIT_NOT_ALLOWED, "regionCode")
        if b.board or b.department:
            raise AccountError(E.UNIT_NOT_ALLOWED, "boardId" if b.board else "departmentId")
        return
    if b.enterprise:
        raise AccountError(E.ENTERPRISE_NOT_ALLOWED, "enterpriseId")
    if b.region_level is None:
        raise AccountError(E.REQUIRED, "regionCode")
    if b.role == "PROVINCE_MONITOR" and b.region_level is not RegionLevel.PROVINCE:
        raise AccountError(E.ROLE_NEEDS_PROVINCE, "regionCode")
    if b.board and b.department:
        raise AccountError(E.UNIT_NOT_ALLOWED, "departmentId")
    wanted = {"BOARD_HANDLER": "boardId", "DEPARTMENT_HANDLER": "departmentId"}.get(b.role)
    if wanted == "boardId" and not b.board:
        raise AccountError(E.UNIT_REQUIRED, "boardId")
    if wanted == "departmentId" and not b.department:
        raise AccountError(E.UNIT_REQUIRED, "departmentId")
    if wanted != "boardId" and b.board:
        raise AccountError(E.UNIT_NOT_ALLOWED, "boardId")
    if wanted != "departmentId" and b.department:
        raise AccountError(E.UNIT_NOT_ALLOWED, "departmentId")


def is_province_admin(role: str, region_code: str | None, active: bool = True) -> bool:
    """An active ADMIN at a province: the last one of a province may not go."""
    return active and role == "ADMIN" and region_code is not None and len(region_code) == 2
