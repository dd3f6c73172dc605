"""Error codes of the evaluation mutations (``recordIndicator``, ``addListEntry``), each with
zh-CN and English labels. The scoring layer's own codes (``InvalidIndicatorInput``) map
one to one onto these, so a client sees the same code the domain raised."""

from __future__ import annotations

import enum

from closedloop import i18n
from closedloop.domain.periods import InvalidPeriod
from closedloop.domain.schemes import ScoringError


class EvaluationErrorCode(enum.StrEnum):
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNKNOWN_SCHEME = "UNKNOWN_SCHEME"
    UNKNOWN_INDICATOR = "UNKNOWN_INDICATOR"
    INVALID_PERIOD = "INVALID_PERIOD"
    INVALID_TARGET = "INVALID_TARGET"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    NOT_EXTERNAL = "NOT_EXTERNAL"
    WRONG_INPUT_KIND = "WRONG_INPUT_KIND"
    ABOVE_MAXIMUM = "ABOVE_MAXIMUM"
    NEGATIVE_VALUE = "NEGATIVE_VALUE"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    UNKNOWN_CHECK = "UNKNOWN_CHECK"
    MISSING_CHECK = "MISSING_CHECK"
    NOT_A_BOOLEAN = "NOT_A_BOOLEAN"
    NUMERATOR_WITHOUT_DENOMINATOR = "NUMERATOR_WITHOUT_DENOMINATOR"
    RANK_BELOW_ONE = "RANK_BELOW_ONE"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_DATE = "INVALID_DATE"
    ISSUE_NOT_FOUND = "ISSUE_NOT_FOUND"
    CASE_NOT_FOUND = "CASE_NOT_FOUND"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


i18n.register(
    "EvaluationErrorCode",
    {
        "PERMISSION_DENIED": ("无权执行此操作", "You may not do this"),
        "IDEMPOTENCY_KEY_REUSED": (
            "幂等键已用于不同的请求",
            "The idempotency key was used for a different request",
        ),
        "UNKNOWN_SCHEME": ("未知的评价方案", "Unknown scoring scheme"),
        "UNKNOWN_INDICATOR": ("评价方案中没有该指标", "The scheme has no such indicator"),
        "INVALID_PERIOD": ("统计周期无法解析", "The period cannot be parsed"),
        "INVALID_TARGET": (
            "评价对象不正确：部门须给出部门 ID，地区须给出区划代码",
            "Invalid target: a department needs departmentId, a region needs regionCode",
        ),
        "TARGET_NOT_FOUND": ("评价对象不存在", "Target not found"),
        "NOT_EXTERNAL": (
            "该指标由平台计算，不可录入",
            "This indicator is computed by the platform and cannot be recorded",
        ),
        "WRONG_INPUT_KIND": ("录入的数据类型与指标不符", "Wrong kind of value for this indicator"),
        "ABOVE_MAXIMUM": ("超过指标满分", "Above the indicator's maximum"),
        "NEGATIVE_VALUE": ("不能为负数", "Must not be negative"),
        "NOT_A_NUMBER": ("应为数字", "Must be a number"),
        "UNKNOWN_CHECK": ("未知检查项", "Unknown check"),
        "MISSING_CHECK": ("缺少检查项", "A check is missing"),
        "NOT_A_BOOLEAN": ("应为是/否", "Must be true or false"),
        "NUMERATOR_WITHOUT_DENOMINATOR": (
            "已录入兑付金额但预算为 0 或未录入",
            "An amount paid was recorded without a budget",
        ),
        "RANK_BELOW_ONE": ("名次应不小于 1", "The rank must be 1 or more"),
        "REQUIRED": ("必填项", "Required"),
        "TOO_LONG": ("内容过长", "Too long"),
        "INVALID_DATE": ("日期不正确", "Invalid date"),
        "ISSUE_NOT_FOUND": ("诉求不存在", "Issue not found"),
        "CASE_NOT_FOUND": ("案例不存在", "Case not found"),
    },
)


class EvaluationError(Exception):
    """An expected failure of an evaluation mutation: reported, nothing recorded."""

    def __init__(
        self,
        code: EvaluationErrorCode,
        field: str | None = None,
        *,
        detail_zh: str = "",
        detail_en: str = "",
    ) -> None:
        super().__init__(f"{code.value}: {detail_en}" if detail_en else code.value)
        self.code = code
        self.field = field
        self.detail_zh = detail_zh
        self.detail_en = detail_en

    def message(self, locale: str) -> str:
        text = i18n.label(self.code, locale, "EvaluationErrorCode")
        if locale == i18n.EN:
            return f"{text} ({self.detail_en})" if self.detail_en else text
        return f"{text}（{self.detail_zh}）" if self.detail_zh else text

    @classmethod
    def from_scoring(cls, exc: ScoringError, field: str | None = None) -> EvaluationError:
        try:
            code = EvaluationErrorCode(exc.code)
        except ValueError:  # a scoring code this API does not name: still a bad value
            code = EvaluationErrorCode.WRONG_INPUT_KIND
        return cls(code, field or exc.field, detail_zh=exc.zh, detail_en=exc.en)

    @classmethod
    def from_period(cls, exc: InvalidPeriod, field: str = "period") -> EvaluationError:
        return cls(EvaluationErrorCode.INVALID_PERIOD, field, detail_zh=exc.zh, detail_en=exc.en)
