"""The root ``Mutation`` type: each field's resolver lives in its own module."""

from __future__ import annotations

import strawberry

from closedloop.resolvers.fields import signed_in_mutation
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
from closedloop.schema.payloads import IssuePayload


@strawberry.type
class IssueMutation:
    submit_issue: IssuePayload = signed_in_mutation(submit_issue, "提交诉求 / submit an issue")
    accept_issue: IssuePayload = signed_in_mutation(accept_issue, "受理 / accept")
    reject_issue: IssuePayload = signed_in_mutation(
        reject_issue, "不予受理 / reject (reason required)"
    )
    triage_issue: IssuePayload = signed_in_mutation(triage_issue, "分类分级 / triage")
    assign_issue: IssuePayload = signed_in_mutation(
        assign_issue, "交办 / assign to a board or department"
    )
    start_issue: IssuePayload = signed_in_mutation(start_issue, "开始办理 / start")
    add_issue_note: IssuePayload = signed_in_mutation(add_issue_note, "办理记录 / add a note")
    hand_back_issue: IssuePayload = signed_in_mutation(
        hand_back_issue, "退回中心 / hand back to the center"
    )
    resolve_issue: IssuePayload = signed_in_mutation(
        resolve_issue, "办结答复 / resolve with a reply"
    )
    rate_issue: IssuePayload = signed_in_mutation(rate_issue, "评价 / rate")
    urge_issue: IssuePayload = signed_in_mutation(urge_issue, "催单 / urge")
    reopen_issue: IssuePayload = signed_in_mutation(
        reopen_issue, "重新办理 / reopen (reason required)"
    )
    escalate_issue: IssuePayload = signed_in_mutation(
        escalate_issue, "逐级上报 / escalate to the direct parent"
    )
    delegate_issue: IssuePayload = signed_in_mutation(
        delegate_issue, "向下交办 / delegate into the subtree"
    )
    return_issue: IssuePayload = signed_in_mutation(
        return_issue, "退回交办 / hand a delegated issue back"
    )
    coordinate_issue: IssuePayload = signed_in_mutation(
        coordinate_issue, "统筹协调 / move up the tier's ladder"
    )
    record_meeting_decision: IssuePayload = signed_in_mutation(
        record_meeting_decision, "联席会议决定 / record the joint meeting's decision"
    )
    submit_channel_issues: SubmitChannelIssuesPayload = signed_in_mutation(
        submit_channel_issues,
        "渠道系统批量推送诉求（至多100条，按记录号幂等）/ a channel system's batch",
    )
    push_to_problem_lists: ProblemListPushPayload = signed_in_mutation(
        push_to_problem_lists,
        "推送本级七张问题清单 / push a major issue to the tier's seven problem lists",
    )


@strawberry.type
class LearningMutation:
    merge_issues: IssuePayload = signed_in_mutation(
        merge_issues, "合并重复件 / merge duplicates into a primary"
    )
    confirm_recurrence: IssuePayload = signed_in_mutation(
        confirm_recurrence, "确认重发复发 / link an issue to the earlier one it repeats"
    )
    verify_issue: IssuePayload = signed_in_mutation(
        verify_issue, "回访验收 / record a callback on a sampled issue"
    )
    share_case: CasePayload = signed_in_mutation(
        share_case, "分享典型案例 / share a resolved issue as a model case"
    )
    draw_callback_sample: CallbackSamplePayload = signed_in_mutation(
        draw_callback_sample, "回访抽样（默认20%，可复现）/ draw the reproducible callback sample"
    )
