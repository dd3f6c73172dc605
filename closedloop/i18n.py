"""Chinese (zh-CN, the default) and English labels for every enum and error users see."""

from __future__ import annotations

import enum
from collections.abc import Iterable

ZH = "zh-CN"
EN = "en"

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
    },
)
