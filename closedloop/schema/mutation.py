"""The root ``Mutation`` type: each field's resolver lives in its own module."""

from __future__ import annotations

import strawberry

from closedloop.resolvers.mutations import (
    accept_issue,
    add_issue_note,
    assign_issue,
    hand_back_issue,
    rate_issue,
    reject_issue,
    reopen_issue,
    resolve_issue,
    start_issue,
    submit_issue,
    triage_issue,
    urge_issue,
)
from closedloop.schema.payloads import IssuePayload, SignedIn


def _m(module: object, description: str) -> IssuePayload:
    field: IssuePayload = strawberry.mutation(
        resolver=module.resolve,  # type: ignore[attr-defined]
        description=description,
        permission_classes=[SignedIn],
    )
    return field


@strawberry.type
class Mutation:
    submit_issue: IssuePayload = _m(submit_issue, "提交诉求 / submit an issue")
    accept_issue: IssuePayload = _m(accept_issue, "受理 / accept")
    reject_issue: IssuePayload = _m(reject_issue, "不予受理 / reject (reason required)")
    triage_issue: IssuePayload = _m(triage_issue, "分类分级 / triage")
    assign_issue: IssuePayload = _m(assign_issue, "交办 / assign to a board or department")
    start_issue: IssuePayload = _m(start_issue, "开始办理 / start")
    add_issue_note: IssuePayload = _m(add_issue_note, "办理记录 / add a note")
    hand_back_issue: IssuePayload = _m(hand_back_issue, "退回中心 / hand back to the center")
    resolve_issue: IssuePayload = _m(resolve_issue, "办结答复 / resolve with a reply")
    rate_issue: IssuePayload = _m(rate_issue, "评价 / rate")
    urge_issue: IssuePayload = _m(urge_issue, "催单 / urge")
    reopen_issue: IssuePayload = _m(reopen_issue, "重新办理 / reopen (reason required)")
