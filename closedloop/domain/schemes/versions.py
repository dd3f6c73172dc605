"""Scheme versions as data: the rules of uploading and activating one, and which version is
in force for a period. Pure: the rows are read and written by
``closedloop.services.schemes``.

A version is activated from a period (a month, a quarter or a year that has not ended yet:
the scores of a closed period never change). The version in force for a scored period is
the active one of its key with the latest ``effective_from`` on or before the period's first
day; with none, the key's scheme of the package or of CLOSEDLOOP_SCHEME_DIR serves.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from closedloop import i18n
from closedloop.domain.periods import CHINA, Period, PeriodKind
from closedloop.domain.schemes.errors import SchemeProblem
from closedloop.domain.schemes.model import Scheme

VERSION_LABEL_MAX = 64


class VersionState(enum.StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    # Another version of the same scheme was activated from the same period.
    SUPERSEDED = "SUPERSEDED"


class SchemeErrorCode(enum.StrEnum):
    INVALID_SCHEME = "INVALID_SCHEME"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    VERSION_LABEL_TAKEN = "VERSION_LABEL_TAKEN"
    INVALID_PERIOD = "INVALID_PERIOD"
    PERIOD_KIND_NOT_ALLOWED = "PERIOD_KIND_NOT_ALLOWED"
    PERIOD_ENDED = "PERIOD_ENDED"
    NOT_A_DRAFT = "NOT_A_DRAFT"


i18n.register(
    "SchemeVersionState",
    {
        "DRAFT": ("草稿", "Draft"),
        "ACTIVE": ("已启用", "Active"),
        "SUPERSEDED": ("已被替代", "Superseded"),
    },
)
i18n.register(
    "SchemeErrorCode",
    {
        **i18n.WRITE_ERROR_LABELS,
        "NOT_FOUND": ("评价方案版本不存在", "No such scheme version"),
        "INVALID_SCHEME": ("评价方案无效", "The scheme document is not valid"),
        "TOO_LONG": ("内容过长", "Too long"),
        "VERSION_LABEL_TAKEN": (
            "该评价方案已有同名版本",
            "The scheme already has a version with this label",
        ),
        "INVALID_PERIOD": ("统计周期无法解析", "Malformed period"),
        "PERIOD_KIND_NOT_ALLOWED": (
            "只能从某月、某季度或某年起启用",
            "A version takes effect from a month, a quarter or a year",
        ),
        "PERIOD_ENDED": (
            "该周期已结束，已结束周期的评分不再改变",
            "That period has ended; the scores of an ended period do not change",
        ),
        "NOT_A_DRAFT": ("只有草稿可以启用", "Only a draft can be activated"),
    },
)


class SchemeVersionError(Exception):
    """An expected failure of uploading or activating a version: its code, the input field
    at fault and, for an invalid document, every problem with its path; nothing is written."""

    def __init__(
        self,
        code: SchemeErrorCode,
        field: str | None = None,
        problems: tuple[SchemeProblem, ...] = (),
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.field = field
        self.problems = problems


def check_version_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise SchemeVersionError(SchemeErrorCode.REQUIRED, "versionLabel")
    if len(label) > VERSION_LABEL_MAX:
        raise SchemeVersionError(SchemeErrorCode.TOO_LONG, "versionLabel")
    return label


def check_effective_from(period: Period, now: dt.datetime) -> Period:
    """A version takes effect from a month, a quarter or a year that has not ended (in
    Beijing): activating never changes the scores of a closed period."""
    if period.kind not in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
        raise SchemeVersionError(SchemeErrorCode.PERIOD_KIND_NOT_ALLOWED, "effectiveFrom")
    if period.end <= now.astimezone(CHINA).date():
        raise SchemeVersionError(SchemeErrorCode.PERIOD_ENDED, "effectiveFrom")
    return period


@dataclass(frozen=True, slots=True)
class ActiveVersion:
    """A version in force from ``effective_from`` (until a later one of its key)."""

    id: int
    version_label: str
    effective_from: dt.date
    effective_period: str
    scheme: Scheme


def in_force(versions: Iterable[ActiveVersion], period: Period) -> ActiveVersion | None:
    """Of one key's active versions, the one in force for ``period`` (the latest to take
    effect on or before its first day); None: the files' scheme serves."""
    found: ActiveVersion | None = None
    for v in versions:
        if v.effective_from <= period.start and (
            found is None or v.effective_from > found.effective_from
        ):
            found = v
    return found
