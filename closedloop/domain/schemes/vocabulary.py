"""The words of a scoring scheme: a zh/en ``Label``, the rating grades and the counters the
database supplies (``BASE_COUNTERS``) or the scoring derives (``DERIVED_COUNTERS``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Label:
    """A Chinese (zh-CN, the default) and an English wording of the same thing."""

    zh: str
    en: str


# The four rating grades of ``catalog.json`` → rating_grades, best first. Mirrored here so
# the scoring layer stays free of I/O; a test checks the two agree.
RATING_GRADES: Mapping[str, Label] = MappingProxyType(
    {
        "SATISFIED": Label("满意", "Satisfied"),
        "FAIRLY_SATISFIED": Label("比较满意", "Fairly satisfied"),
        "BASICALLY_SATISFIED": Label("基本满意", "Basically satisfied"),
        "UNSATISFIED": Label("不满意", "Unsatisfied"),
    }
)

# Counters the database layer supplies per target and period (see ``scoring.Counters``).
BASE_COUNTERS: Mapping[str, Label] = MappingProxyType(
    {
        "total": Label("问题总数", "issues in total"),
        "proactive": Label("主动发现问题数", "proactively discovered issues"),
        "handled": Label("办理问题总数", "issues handled"),
        "resolved": Label("办结问题数", "issues resolved"),
        "overdue_resolved": Label("超时办结问题数", "issues resolved after their time limit"),
        "recurred": Label("问题解决后重发复发数", "resolved issues that recurred"),
        "responded_on_time": Label("按时响应数", "issues accepted and assigned in time"),
        "unrated_resolved": Label("未评价办结数", "resolved issues left unrated"),
    }
)

# Counters derived from the ratings by grade and the scheme's satisfied grades.
DERIVED_COUNTERS: Mapping[str, Label] = MappingProxyType(
    {
        "rated": Label("评价总数", "rated issues"),
        "satisfied_ratings": Label("满意数", "ratings in the satisfied grades"),
        "good_ratings": Label("好评数（含未评价）", "good ratings (satisfied or unrated)"),
        # Every rated resolution and every resolved issue left unrated, each once.
        "resolutions": Label("参评办结数", "resolutions rated or left unrated"),
    }
)

COUNTER_LABELS: Mapping[str, Label] = MappingProxyType({**BASE_COUNTERS, **DERIVED_COUNTERS})
COUNTER_NAMES: frozenset[str] = frozenset(COUNTER_LABELS)
