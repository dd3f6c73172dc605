"""The root ``Mutation`` type: each field's resolver lives in its own module."""

from __future__ import annotations

import strawberry

from closedloop.resolvers.mutations import (
    accept_issue,
    add_issue_note,
    assign_issue,
    confirm_recurrence,
    coordinate_issue,
    delegate_issue,
    draw_callback_sample,
    escalate_issue,
    hand_back_issue,
    merge_issues,
    push_to_problem_lists,
    rate_issue,
    record_meeting_decision,
    reject_issue,
    reopen_issue,
    resolve_issue,
    return_issue,
    share_case,
    start_issue,
    submit_channel_issues,
    submit_issue,
    triage_issue,
    urge_issue,
    verify_issue,
)
from closedloop.resolvers.mutations.draw_callback_sample import CallbackSamplePayload
from closedloop.resolvers.mutations.push_to_problem_lists import ProblemListPushPayload
from closedloop.resolvers.mutations.share_case import CasePayload
from closedloop.resolvers.mutations.submit_channel_issues import SubmitChannelIssuesPayload
from closedloop.schema.payloads import IssuePayload, SignedIn


def _m(module: object, description: str) -> IssuePayload:
    field: IssuePayload = strawberry.mutation(
        resolver=module.resolve,  # type: ignore[attr-defined]
        description=description,
        permission_classes=[SignedIn],
    )
    return field


@strawberry.type
class IssueMutation:
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
    escalate_issue: IssuePayload = _m(escalate_issue, "逐级上报 / escalate to the direct parent")
    delegate_issue: IssuePayload = _m(delegate_issue, "向下交办 / delegate into the subtree")
    return_issue: IssuePayload = _m(return_issue, "退回交办 / hand a delegated issue back")
    coordinate_issue: IssuePayload = _m(coordinate_issue, "统筹协调 / move up the tier's ladder")
    record_meeting_decision: IssuePayload = _m(
        record_meeting_decision, "联席会议决定 / record the joint meeting's decision"
    )
    submit_channel_issues: SubmitChannelIssuesPayload = strawberry.mutation(
        resolver=submit_channel_issues.resolve,
        description="渠道系统批量推送诉求（至多100条，按记录号幂等）/ a channel system's batch",
        permission_classes=[SignedIn],
    )
    push_to_problem_lists: ProblemListPushPayload = strawberry.mutation(
        resolver=push_to_problem_lists.resolve,
        description="推送本级七张问题清单 / push a major issue to the tier's seven problem lists",
        permission_classes=[SignedIn],
    )


@strawberry.type
class LearningMutation:
    merge_issues: IssuePayload = _m(merge_issues, "合并重复件 / merge duplicates into a primary")
    confirm_recurrence: IssuePayload = _m(
        confirm_recurrence, "确认重发复发 / link an issue to the earlier one it repeats"
    )
    verify_issue: IssuePayload = _m(verify_issue, "回访验收 / record a callback on a sampled issue")
    share_case: CasePayload = strawberry.mutation(
        resolver=share_case.resolve,
        description="分享典型案例 / share a resolved issue as a model case",
        permission_classes=[SignedIn],
    )
    draw_callback_sample: CallbackSamplePayload = strawberry.mutation(
        resolver=draw_callback_sample.resolve,
        description="回访抽样（默认20%，可复现）/ draw the reproducible callback sample",
        permission_classes=[SignedIn],
    )
