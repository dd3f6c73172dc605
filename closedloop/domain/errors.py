"""Error codes of the issue loop, each with zh-CN and English labels."""

from __future__ import annotations

import enum

from closedloop import i18n


class IssueErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    URGE_TOO_SOON = "URGE_TOO_SOON"
    ENTERPRISE_NOT_FOUND = "ENTERPRISE_NOT_FOUND"
    INVALID_CREDIT_CODE = "INVALID_CREDIT_CODE"
    REGION_NOT_FOUND = "REGION_NOT_FOUND"
    BOARD_NOT_FOUND = "BOARD_NOT_FOUND"
    DEPARTMENT_NOT_FOUND = "DEPARTMENT_NOT_FOUND"
    DUPLICATE_EXTERNAL_ID = "DUPLICATE_EXTERNAL_ID"
    ESCALATION_TARGET_INVALID = "ESCALATION_TARGET_INVALID"
    DELEGATION_TARGET_INVALID = "DELEGATION_TARGET_INVALID"
    DEADLINE_INVALID = "DEADLINE_INVALID"
    NOT_DELEGATED = "NOT_DELEGATED"
    MUST_RETURN_DELEGATION = "MUST_RETURN_DELEGATION"
    LEVEL_INVALID = "LEVEL_INVALID"
    ALREADY_PUSHED = "ALREADY_PUSHED"
    NO_PROBLEM_LIST_APP = "NO_PROBLEM_LIST_APP"
    MERGE_INTO_ITSELF = "MERGE_INTO_ITSELF"
    MERGE_TARGET_INVALID = "MERGE_TARGET_INVALID"
    MERGE_ACROSS_SCOPES = "MERGE_ACROSS_SCOPES"
    NOT_RESOLVED = "NOT_RESOLVED"
    ALREADY_SHARED = "ALREADY_SHARED"
    NOT_IN_SAMPLE = "NOT_IN_SAMPLE"
    RECURRENCE_INVALID = "RECURRENCE_INVALID"
    INVALID_PERIOD = "INVALID_PERIOD"


i18n.register(
    "IssueErrorCode",
    {
        "NOT_FOUND": ("诉求不存在", "Issue not found"),
        "PERMISSION_DENIED": ("无权执行此操作", "You may not do this"),
        "INVALID_TRANSITION": ("当前状态不允许此操作", "Not allowed in the issue's current state"),
        "VERSION_CONFLICT": (
            "诉求已被他人修改，请刷新后重试",
            "The issue changed meanwhile; reload",
        ),
        "IDEMPOTENCY_KEY_REUSED": (
            "幂等键已用于不同的请求",
            "The idempotency key was used for a different request",
        ),
        "REQUIRED": ("必填项", "Required"),
        "INVALID": ("取值不正确", "Invalid value"),
        "TOO_LONG": ("内容过长", "Too long"),
        "URGE_TOO_SOON": ("24小时内只能催单一次", "You may urge once per 24 hours"),
        "ENTERPRISE_NOT_FOUND": ("企业不存在", "Enterprise not found"),
        "INVALID_CREDIT_CODE": ("统一社会信用代码不正确", "Invalid unified social credit code"),
        "REGION_NOT_FOUND": ("行政区划不存在", "Region not found"),
        "BOARD_NOT_FOUND": ("板块不存在", "Board not found"),
        "DEPARTMENT_NOT_FOUND": ("部门不存在", "Department not found"),
        "DUPLICATE_EXTERNAL_ID": ("该渠道记录已导入", "This channel record was already taken in"),
        "ESCALATION_TARGET_INVALID": (
            "只能逐级上报至直接上级",
            "An issue goes up one tier at a time, to the direct parent only",
        ),
        "DELEGATION_TARGET_INVALID": (
            "只能向本级辖区内的下级交办",
            "Delegation goes down into the holding region's own subtree only",
        ),
        "DEADLINE_INVALID": (
            "办理时限须在本级时限之内且晚于当前时间",
            "The deadline must be in the future and inside the holder's own limit",
        ),
        "NOT_DELEGATED": ("该问题不是上级交办的", "This issue was not delegated to you"),
        "MUST_RETURN_DELEGATION": (
            "上级交办的问题须退回交办方，不能直接处理",
            "A delegated issue goes back to the delegating tier, with a reason",
        ),
        "LEVEL_INVALID": ("处置层级不正确", "Not a valid handling level for this step"),
        "ALREADY_PUSHED": (
            "已推送至本级七张问题清单",
            "Already pushed to this tier's seven problem lists",
        ),
        "NO_PROBLEM_LIST_APP": (
            "本级尚未对接七张问题清单应用",
            "This tier has no seven-problem-lists application configured",
        ),
        "MERGE_INTO_ITSELF": ("不能与自身合并", "An issue cannot be merged into itself"),
        "MERGE_TARGET_INVALID": (
            "主问题须为办理中的问题，且不能是已合并的重复件",
            "The primary must be open and not itself merged into another",
        ),
        "MERGE_ACROSS_SCOPES": (
            "只能合并本级承办的问题",
            "Only issues held by your own region can be merged",
        ),
        "NOT_RESOLVED": ("问题尚未办结", "The issue is not resolved yet"),
        "ALREADY_SHARED": ("该问题已分享为案例", "This issue is already a shared case"),
        "NOT_IN_SAMPLE": (
            "该问题不在抽取的回访样本中",
            "The issue is not in a drawn callback sample",
        ),
        "RECURRENCE_INVALID": (
            "只能关联此前已办结的问题",
            "Only an earlier, resolved issue can be linked as the one that recurred",
        ),
        "INVALID_PERIOD": ("统计周期无法解析", "The period cannot be parsed"),
    },
)


class IssueCommandError(Exception):
    """An expected failure of a command: reported as a ``UserError``, nothing changed."""

    def __init__(self, code: IssueErrorCode, field: str | None = None, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.field = field
        self.detail = detail

    def message(self, locale: str) -> str:
        text = i18n.label(self.code, locale, "IssueErrorCode")
        return (
            f"{text}（{self.detail}）"
            if self.detail and locale != i18n.EN
            else (f"{text} ({self.detail})" if self.detail else text)
        )
