"""Chinese (zh-CN, the default) and English labels for every enum and error users see."""

from __future__ import annotations

import enum
from collections.abc import Iterable

ZH = "zh-CN"
EN = "en"

# The labels every administrative write's error enum shares (accounts, rules, scheme
# versions): spread into each enum's own registration, which may word one more exactly.
WRITE_ERROR_LABELS: dict[str, tuple[str, str]] = {
    "NOT_FOUND": ("对象不存在", "Not found"),
    "PERMISSION_DENIED": ("无权执行此操作", "You may not do this"),
    "VERSION_CONFLICT": (
        "数据已被他人修改，请刷新后重试",
        "Changed by someone else meanwhile; reload and retry",
    ),
    "IDEMPOTENCY_KEY_REUSED": (
        "幂等键已用于不同的请求",
        "The idempotency key was used for a different request",
    ),
    "REQUIRED": ("必填项", "Required"),
}
# ...and those of the writes that name a region of the administered subtree.
REGION_ERROR_LABELS: dict[str, tuple[str, str]] = {
    "INVALID_REGION_CODE": ("行政区划代码格式不正确", "Malformed region code"),
    "REGION_NOT_FOUND": ("行政区划不存在", "No such region"),
    "REGION_OUT_OF_SCOPE": (
        "该行政区划不在本账号管理范围内",
        "The region is outside the part of the tree you administer",
    ),
}

# (enum name, value) -> (zh, en)
_LABELS: dict[tuple[str, str], tuple[str, str]] = {}


def register(enum_name: str, labels: dict[str, tuple[str, str]]) -> None:
    for value, pair in labels.items():
        _LABELS[(enum_name, value)] = pair


def label(value: enum.Enum | str, locale: str, enum_name: str | None = None) -> str:
    name = enum_name or type(value).__name__
    key = value.value if isinstance(value, enum.Enum) else value
    pair = _LABELS.get((name, str(key)))
    if pair is None:
        return str(key)
    return pair[1] if locale == EN else pair[0]


def labels_of(enum_name: str) -> Iterable[tuple[str, str, str]]:
    for (name, value), (zh, en) in _LABELS.items():
        if name == enum_name:
            yield value, zh, en


def enum_names() -> list[str]:
    return sorted({name for name, _ in _LABELS})


def negotiate(accept_language: str | None) -> str:
    """Pick zh-CN unless the client's first preference is English."""
    if not accept_language:
        return ZH
    first = accept_language.split(",")[0].strip().lower()
    return EN if first.startswith("en") else ZH


register(
    "RegionLevel",
    {
        "PROVINCE": ("省", "Province"),
        "CITY": ("市", "City"),
        "COUNTY": ("县（市、区）", "County"),
        "TOWN": ("乡镇（街道）", "Town"),
    },
)
register(
    "Role",
    {
        "ENTERPRISE": ("企业用户", "Enterprise user"),
        "CENTER_STAFF": ("企业综合服务中心工作人员", "Service center staff"),
        "BOARD_HANDLER": ("板块经办人", "Board handler"),
        "DEPARTMENT_HANDLER": ("部门经办人", "Department handler"),
        "LEADER": ("分管领导", "Leader"),
        "EVALUATOR": ("改革办评价员", "Evaluator (reform office)"),
        "PROVINCE_MONITOR": ("省级监测", "Province monitor"),
        "ADMIN": ("平台管理员", "Administrator"),
        "CHANNEL": ("渠道系统服务账号", "Channel system (service account)"),
    },
)
register(
    "IssueState",
    {
        "SUBMITTED": ("已提交", "Submitted"),
        "ACCEPTED": ("已受理", "Accepted"),
        "ASSIGNED": ("已交办", "Assigned"),
        "IN_PROGRESS": ("办理中", "In progress"),
        "RESOLVED": ("已办结", "Resolved"),
        "CLOSED": ("已关闭", "Closed"),
        "REJECTED": ("不予受理", "Rejected"),
        "MERGED": ("已合并", "Merged"),
        "ROUTED_OUT": ("已转专门渠道", "Routed to a dedicated channel"),
        "REOPENED": ("已重启", "Reopened"),
    },
)
register(
    "HandlingLevel",
    {
        "ORIGINAL_CHANNEL": ("原渠道办理", "Handled in the original channel"),
        "BOARD": ("板块办理", "Board"),
        "CENTER": ("中心统筹协调", "Center coordination"),
        "LEADER_MEETING": ("领导联席会议协调", "Leaders' joint meeting"),
        "PARENT_TIER": ("上级协调", "Parent tier"),
        "PROVINCE_TASKFORCE": ("省级专班", "Provincial task force"),
    },
)
register(
    "Light", {"GREEN": ("绿灯", "Green"), "YELLOW": ("黄灯", "Yellow"), "RED": ("红灯", "Red")}
)
register(
    "RatingGrade",
    {
        "SATISFIED": ("满意", "Satisfied"),
        "FAIRLY_SATISFIED": ("比较满意", "Fairly satisfied"),
        "BASICALLY_SATISFIED": ("基本满意", "Basically satisfied"),
        "UNSATISFIED": ("不满意", "Unsatisfied"),
    },
)
register(
    "IssueEventType",
    {
        "SUBMITTED": ("提交诉求", "Submitted"),
        "ACCEPTED": ("中心受理", "Accepted"),
        "REJECTED": ("不予受理", "Rejected"),
        "TRIAGED": ("分类分级", "Triaged"),
        "ROUTED_OUT": ("转专门渠道办理", "Routed to a dedicated channel"),
        "ASSIGNED": ("交办", "Assigned"),
        "STARTED": ("开始办理", "Started"),
        "NOTE": ("办理记录", "Note"),
        "HANDED_BACK": ("退回中心统筹", "Handed back to the center"),
        "RESOLVED": ("办结答复", "Resolved"),
        "RATED": ("企业评价", "Rated"),
        "URGED": ("企业催单", "Urged"),
        "REOPENED": ("重新办理", "Reopened"),
        "CLOSED": ("关闭", "Closed"),
        "LIGHT_CHANGED": ("亮灯预警", "Light changed"),
        "MERGED": ("合并", "Merged"),
        "MERGED_IN": ("合并重复件", "Duplicates merged in"),
        "PRIMARY_RESOLVED": ("合并的主问题已办结", "The primary issue was resolved"),
        "SETTLED_IN_CHANNEL": ("原渠道办结", "Settled in its original channel"),
        "RECURRENCE_LINKED": ("关联重发复发", "Linked as a recurrence"),
        "RECURRED": ("问题重发", "Recurred"),
        "SHARED_AS_CASE": ("分享为典型案例", "Shared as a model case"),
        "VERIFIED": ("回访验收", "Callback verification"),
        "ESCALATED": ("逐级上报", "Escalated"),
        "DELEGATED": ("向下交办", "Delegated"),
        "DELEGATION_RETURNED": ("退回交办", "Delegation returned"),
        "LEVEL_RAISED": ("提级协调", "Raised up the ladder"),
        "MEETING_DECIDED": ("联席会议决定", "Joint meeting decision"),
        "FLAGGED": ("列入问题清单", "Put on the problem lists"),  # before migration 0018
        "PROBLEM_LIST_PUSHED": ("推送七张问题清单", "Pushed to the seven problem lists"),
        "PROBLEM_LIST_DELIVERED": (
            "七张问题清单已接收",
            "Received by the seven problem lists (receipt)",
        ),
        "PROBLEM_LIST_REPORTED": ("七张问题清单回传", "Reported back by the seven problem lists"),
    },
)
register(
    "IssueAction",
    {
        "ACCEPT": ("受理", "Accept"),
        "REJECT": ("不予受理", "Reject"),
        "TRIAGE": ("分类分级", "Triage"),
        "ASSIGN": ("交办", "Assign"),
        "START": ("开始办理", "Start"),
        "NOTE": ("办理记录", "Add a note"),
        "HAND_BACK": ("退回中心", "Hand back"),
        "RESOLVE": ("办结答复", "Resolve"),
        "RATE": ("评价", "Rate"),
        "URGE": ("催单", "Urge"),
        "REOPEN": ("申请重办", "Reopen"),
        "MERGE": ("合并重复件", "Merge a duplicate"),
        "ESCALATE": ("逐级上报", "Escalate"),
        "DELEGATE": ("向下交办", "Delegate"),
        "RETURN": ("退回交办", "Return the delegation"),
        "COORDINATE": ("提级协调", "Coordinate higher"),
        "MEETING_DECISION": ("联席会议决定", "Record the meeting's decision"),
    },
)
register(
    "OutboxChannel",
    {
        "SMS": ("短信", "SMS"),
        "OA": ("OA 消息", "OA message"),
        "PROBLEM_LIST": ("七张问题清单推送", "Push to the seven problem lists"),
    },
)
register(
    "ComparisonBasis",
    {
        "WHOLE_PERIOD": ("与上期全期比较", "compared with the whole previous period"),
        "SAME_ELAPSED_SPAN": (
            "本期尚未结束，与上期同期（相同时长）比较",
            "period still running: compared with the same elapsed span of the previous period",
        ),
    },
)
