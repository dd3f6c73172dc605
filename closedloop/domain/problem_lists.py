"""Pushing an issue to the tier's 七张问题清单 application, and what that application reports
back. Pure rules: no I/O, no clock.

The seven problem lists are not a category of the loop but a separate provincial application
of each tier, where major problems get the attention of the Party committee and the
government. The sources:

- ``003_…`` (the provincial guidance, 高效处置机制): "对于需要各级党委、政府重点关注的重大涉企
  问题，流转至本级“七张问题清单”办理。" A major problem goes to the application *of its own
  tier* (本级), so the push goes to the tier that holds the issue.
- ``004_…`` (Huzhou's plan, 分类分层分级办理机制): "对于企业综合服务中心无法解决的问题,由各级
  党委政府领导召开联席会议协调解决,对特别重大的、共性的、疑难的、反复反映的,通过各级党委政府
  七张问题清单办理。… 本级解决不了的逐级上传,直至 … 省委、省政府七张问题清单". The step after
  the leaders' joint meeting: a leader of the tier pushes (the policy grants
  ``issue.push_problem_list`` to LEADER on its own tier only); what one tier cannot solve goes
  up by escalation and may be pushed again there, so an issue has at most one push per tier.
- ``000_…`` (the transcript): "对于需要省委省政府重点关注的问题，同步推送七张问题清单" and
  "党政关注的重大问题，我们还是原渠道，报送“七张问题清单”，高效处置解决。到举一反三这一块，
  我们有一个预警督办，对所有的问题都有一个持续跟踪": the issue is pushed *and stays in the
  loop* (同步, 持续跟踪): the push never changes the issue's state; the application's reports
  are recorded with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from closedloop import i18n


class PushState(enum.StrEnum):
    """Where a push stands: ours until the application gives a receipt, then what the
    application reports."""

    PENDING = "PENDING"  # in the outbox, not yet taken by the application
    FAILED = "FAILED"  # the outbox gave up; a leader may push again
    DELIVERED = "DELIVERED"  # the application took it and answered with its reference
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"


i18n.register(
    "ProblemListPushState",
    {
        "PENDING": ("待推送", "Waiting to be sent"),
        "FAILED": ("推送失败", "Delivery failed"),
        "DELIVERED": ("已送达", "Delivered (receipt received)"),
        "ACCEPTED": ("清单已受理", "Accepted by the lists"),
        "IN_PROGRESS": ("清单办理中", "In progress on the lists"),
        "RESOLVED": ("清单已办结", "Resolved on the lists"),
        "REJECTED": ("清单不予受理", "Rejected by the lists"),
    },
)

# What the application may report through the callback.
REPORTABLE = frozenset(
    {PushState.ACCEPTED, PushState.IN_PROGRESS, PushState.RESOLVED, PushState.REJECTED}
)
# The application has it (a receipt exists): reports apply from here on.
RECEIVED = frozenset({PushState.DELIVERED}) | REPORTABLE
FINISHED = frozenset({PushState.RESOLVED, PushState.REJECTED})
# Progress order of the application's handling; a report never moves a push backwards.
_RANK = {
    PushState.DELIVERED: 0,
    PushState.ACCEPTED: 1,
    PushState.IN_PROGRESS: 2,
    PushState.RESOLVED: 3,
    PushState.REJECTED: 3,
}

REFERENCE_MAX = 100  # the application's receipt (its own id of the problem)
REASON_MAX = 2000
MESSAGE_MAX = 2000


class PushDecision(enum.Enum):
    NEW = "new"  # no push of this issue to this tier yet
    AGAIN = "again"  # the last one failed to be delivered: queue it again
    REFUSED = "refused"  # already with the application (or on its way)


def push_decision(existing: PushState | None) -> PushDecision:
    """Whether a leader's push creates a push, re-queues a failed one, or is refused."""
    if existing is None:
        return PushDecision.NEW
    if existing is PushState.FAILED:
        return PushDecision.AGAIN
    return PushDecision.REFUSED


class ReportOutcome(enum.Enum):
    APPLY = "apply"  # record the new state (and the message)
    UNCHANGED = "unchanged"  # a repeat of what is recorded: nothing to write
    STALE = "stale"  # would move the push backwards or out of a final state: refused


def report_outcome(current: PushState, reported: PushState, same_message: bool) -> ReportOutcome:
    """What a report of ``reported`` does to a push in ``current``.

    Callbacks may arrive twice (the application retries) or out of order (two in flight):
    a repeat writes nothing, an older state never overwrites a newer one, and a final
    state (resolved, rejected) stays final. A new progress note while in progress is
    recorded (the loop keeps tracking it: 持续跟踪).
    """
    if current not in RECEIVED or reported not in REPORTABLE:
        return ReportOutcome.STALE
    if reported is current:
        if current is PushState.IN_PROGRESS and not same_message:
            return ReportOutcome.APPLY
        return ReportOutcome.UNCHANGED
    if current in FINISHED or _RANK[reported] < _RANK[current]:
        return ReportOutcome.STALE
    return ReportOutcome.APPLY


def valid_reference(value: object) -> bool:
    """A receipt: a non-empty printable string of at most ``REFERENCE_MAX`` characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= REFERENCE_MAX
        and value.strip() == value
        and value.isprintable()
    )


@dataclass(frozen=True, slots=True)
class Report:
    """One state report of the application, as the callback carries it (checked)."""

    region_code: str
    reference: str
    state: PushState
    message: str | None


class ReportErrorCode(enum.StrEnum):
    """Why a callback was not applied (nothing written in each case)."""

    BAD_SIGNATURE = "BAD_SIGNATURE"
    INVALID_REPORT = "INVALID_REPORT"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"
    STALE_REPORT = "STALE_REPORT"


i18n.register(
    "ProblemListReportError",
    {
        "BAD_SIGNATURE": (
            "签名无效或已过期",
            "The signature is missing, wrong, or outside the replay window",
        ),
        "INVALID_REPORT": ("回传内容不正确", "The report is not valid"),
        "UNKNOWN_REFERENCE": ("没有该编号的推送", "No push has this reference"),
        "STALE_REPORT": (
            "该状态早于已记录的状态，未采用",
            "The reported state is older than the recorded one; not applied",
        ),
    },
)


class InvalidReport(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def parse_report(document: object) -> Report:
    """The callback's JSON body as a ``Report``; raises ``InvalidReport(field)``.

    ``{"region": "330521", "reference": "…", "state": "IN_PROGRESS", "message": "…"}``
    """
    if not isinstance(document, dict):
        raise InvalidReport("body")
    region = document.get("region")
    if not isinstance(region, str) or not region.isdigit() or not 2 <= len(region) <= 12:
        raise InvalidReport("region")
    reference = document.get("reference")
    if not valid_reference(reference):
        raise InvalidReport("reference")
    assert isinstance(reference, str)
    try:
        state = PushState(str(document.get("state")))
    except ValueError:
        raise InvalidReport("state") from None
    if state not in REPORTABLE:
        raise InvalidReport("state")
    message = document.get("message")
    if message is not None and (not isinstance(message, str) or len(message) > MESSAGE_MAX):
        raise InvalidReport("message")
    return Report(region, reference, state, (message or "").strip() or None)
