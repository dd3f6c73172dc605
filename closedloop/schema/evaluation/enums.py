"""The evaluation enums as GraphQL enums, with their zh-CN and English labels.

The issue enums the evaluation types use (``RatingGrade``, ``IssueState``) are registered by
``closedloop.schema.issues``, imported here first: a type that met them unregistered would
make strawberry define them a second time."""

from __future__ import annotations

import strawberry

from closedloop import i18n
from closedloop.domain.periods import PeriodKind
from closedloop.domain.schemes import (
    EmptyPolicy,
    RatingCount,
    Source,
)
from closedloop.domain.scoring import (
    RESULT_STATUS_LABELS,
    ResultStatus,
)
from closedloop.schema import issues as issues
from closedloop.services.evaluation.errors import EvaluationErrorCode
from closedloop.services.evaluation.targets import ListKind, TargetKind

strawberry.enum(TargetKind, name="EvaluationTargetKind", description="评价对象类型 / target kind")
strawberry.enum(ListKind, name="ListEntryKind", description="红黑榜 / red or black list")
strawberry.enum(ResultStatus, name="IndicatorStatus", description="指标计分状态 / status")
strawberry.enum(Source, name="IndicatorSource", description="指标来源 / where a value comes from")
strawberry.enum(PeriodKind, name="PeriodKind", description="统计周期类型 / period kind")
strawberry.enum(
    RatingCount, name="RatingCount", description="多次办结时如何计入评价 / which ratings count"
)
strawberry.enum(
    EmptyPolicy, name="EmptyPolicy", description="无可计算数据时的得分 / points when empty"
)
strawberry.enum(
    EvaluationErrorCode, name="EvaluationErrorCode", description="评价操作错误 / evaluation errors"
)

i18n.register(
    "EvaluationTargetKind",
    {"DEPARTMENT": ("部门", "Department"), "REGION": ("地区", "Region")},
)
i18n.register("ListEntryKind", {"RED": ("红榜", "Red list"), "BLACK": ("黑榜", "Black list")})
i18n.register(
    "IndicatorStatus", {s.value: (label.zh, label.en) for s, label in RESULT_STATUS_LABELS.items()}
)
i18n.register(
    "RatingCount",
    {
        "EVERY_RESOLUTION": ("每次办结的评价均计入", "Every rated resolution"),
        "LAST_PER_ISSUE": ("每个问题只计最后一次评价", "The last rating of each issue"),
    },
)
i18n.register(
    "EmptyPolicy",
    {"FULL_POINTS": ("得满分", "Full points"), "ZERO_POINTS": ("不得分", "No points")},
)
i18n.register(
    "IndicatorSource",
    {"PLATFORM": ("平台计算", "Computed by the platform"), "EXTERNAL": ("外部录入", "Recorded")},
)
i18n.register(
    "PeriodKind",
    {
        "MONTH": ("月度", "Month"),
        "QUARTER": ("季度", "Quarter"),
        "YEAR": ("年度", "Year"),
        "RANGE": ("自定义区间", "Date range"),
    },
)
