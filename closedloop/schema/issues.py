"""Issue, the enterprise, its pushes to the problem lists, and the issue connection (its
timeline, custody ledger and ratings: ``schema.issue_entries``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from closedloop import i18n
from closedloop.domain.custody import running_late
from closedloop.domain.errors import IssueErrorCode
from closedloop.domain.issues import (
    FINAL_STATES,
    Category,
    Channel,
    HandlingLevel,
    IssueState,
    Light,
    RatingGrade,
    next_urge_at,
)
from closedloop.domain.problem_lists import PushState
from closedloop.domain.sla import running_light, running_limit
from closedloop.schema.context import Info
from closedloop.schema.enterprises import Enterprise
from closedloop.schema.issue_entries import CustodyEntry, IssueEvent, IssueRating, made
from closedloop.schema.loaders import resolve_loaded
from closedloop.schema.node_registry import register_node
from closedloop.schema.paging import as_id, list_page
from closedloop.schema.reference import resolve_cached
from closedloop.schema.relay import MAX_PAGE, Node, to_global_id
from closedloop.schema.tenancy import Board, Department, Region
from closedloop.services.issues.actions import IssueAction, urge_interval
from closedloop.services.issues.actions import viewer_actions as actions_now
from closedloop.services.issues.problem_list_queries import PushRecord
from closedloop.services.issues.queries import IssueOrder
from closedloop.services.issues.records import LEVELS, EventRecord, IssueRecord
from closedloop.services.learning.similar import Candidate
from closedloop.services.learning.tags import suggest as suggest_tags

strawberry.enum(Light, name="Light", description="亮灯 / time-limit light")
strawberry.enum(IssueAction, name="IssueAction", description="诉求操作 / a command on an issue")
strawberry.enum(Channel, name="Channel", description="来源渠道 / intake channel")
strawberry.enum(Category, name="Category", description="问题类别 / category")
strawberry.enum(IssueOrder, name="IssueOrder", description="排序 / ordering")
strawberry.enum(IssueErrorCode, name="IssueErrorCode", description="诉求操作错误 / issue errors")


@strawberry.type(description="涉企问题 / an enterprise issue")
class Issue(Node):
    number: str = strawberry.field(description="编号：区划-年份-序号 / human-readable number")
    title: str
    content: str
    state: IssueState
    channel: Channel
    proactive: bool = strawberry.field(description="主动发现 / found proactively")
    category: Category | None
    tags: list[str]
    handling_level: HandlingLevel
    route: str | None = strawberry.field(description="转办的专门渠道 / the dedicated route")
    version: int = strawberry.field(description="乐观锁版本 / pass as expectedVersion")
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted_at: dt.datetime | None
    assigned_at: dt.datetime | None
    started_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    due_at: dt.datetime | None = strawberry.field(description="当前时限 / the running deadline")
    overdue: bool = strawberry.field(description="超时办结 / resolved after its limit")
    reply: str | None
    rating: RatingGrade | None
    rated_at: dt.datetime | None
    urge_count: int
    last_urged_at: dt.datetime | None
    reopen_count: int
    recurred: bool = strawberry.field(description="办结后重发 / repeated after being resolved")
    escalation_count: int = strawberry.field(description="逐级上报次数 / times escalated")
    delegation_return_count: int = strawberry.field(description="交办退回次数 / times returned")
    rec: strawberry.Private[IssueRecord]

    @classmethod
    def from_record(cls, r: IssueRecord) -> Issue:
        """The issue as a GraphQL object. Its fields are computed from the record when
        first read and then kept (``_ISSUE_FIELDS``): a page of 50 issues reads a few of
        its 31 fields, and building all of them was a tenth of the page's CPU time."""
        issue = object.__new__(cls)
        issue.__dict__["rec"] = r
        return issue

    @strawberry.field(description="按当前时间计算的亮灯 / the light as of now (open issues)")
    def light(self, info: Info) -> Light | None:
        r = self.rec
        return running_light(info.context.now, r.clock_kind, r.warn_at, r.due_at)

    @strawberry.field(description="渠道自身的记录号（渠道推送、导入）/ the channel's record id")
    def channel_record_id(self) -> str | None:
        return self.rec.external_id

    @strawberry.field
    def state_label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "IssueState")

    @strawberry.field
    def channel_label(self, info: Info) -> str:
        return i18n.label(self.channel, info.context.locale, "Channel")

    @strawberry.field
    def handling_level_label(self, info: Info) -> str:
        return i18n.label(self.handling_level, info.context.locale, "HandlingLevel")

    @strawberry.field(description="下次可催单时间 / when the enterprise may urge again")
    def next_urge_allowed_at(self, info: Info) -> dt.datetime | None:
        return next_urge_at(self.rec.last_urged_at, urge_interval(info.context.settings))

    # Reference rows resolve synchronously from the process cache when they can (a page of
    # issues asks for the same few); see closedloop.schema.reference.
    @strawberry.field
    def enterprise(self, info: Info) -> Enterprise | None:
        return resolve_cached(  # type: ignore[return-value]
            "enterprise",
            self.rec.enterprise_id,
            lambda: info.context.loaders.enterprise,
            Enterprise.from_record,
        )

    @strawberry.field(description="企业所在地 / where the enterprise is")
    def origin_region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region",
            self.rec.origin_region_code,
            lambda: info.context.loaders.region,
            Region.from_record,
        )

    @strawberry.field(description="当前承办层级 / the tier working on it now")
    def holding_region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region",
            self.rec.holding_region_code,
            lambda: info.context.loaders.region,
            Region.from_record,
        )

    @strawberry.field
    def board(self, info: Info) -> Board | None:
        if self.rec.board_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "board", self.rec.board_id, lambda: info.context.loaders.board, Board.from_record
        )

    @strawberry.field
    def department(self, info: Info) -> Department | None:
        if self.rec.department_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "department",
            self.rec.department_id,
            lambda: info.context.loaders.department,
            Department.from_record,
        )

    @strawberry.field(
        description="办理轨迹，按时间先后，每页至多 first 条（1–100），"
        "after 为上一页最后一条的 id；企业只看到公开记录 / timeline, oldest first, in pages"
        " of `first` (1-100) after the entry `after` (the last id of the previous page);"
        " public part for enterprises"
    )
    def timeline(
        self, info: Info, first: int | None = MAX_PAGE, after: strawberry.ID | None = None
    ) -> list[IssueEvent]:
        page = partial(_timeline, info.context.locale, first, after)  # at hand: no task
        return resolve_loaded(info.context.loaders, "events", self.rec.id, page)  # type: ignore[return-value]

    @strawberry.field(
        description="评价记录：每次办结的评价，重新办理后仍保留；每页至多 first 条（1–100），"
        "after 为上一页最后一条的 resolution / every rating, oldest first, in pages of"
        " `first` (1-100) after the rating of resolution `after`"
    )
    async def ratings(
        self, info: Info, first: int | None = MAX_PAGE, after: int | None = None
    ) -> list[IssueRating]:
        rows = await info.context.loaders.ratings.load(self.rec.id)
        cursor = None if after is None else str(after)
        ratings = [
            IssueRating(
                resolution=r.resolution,
                resolved_at=r.resolved_at,
                grade=RatingGrade(r.grade),
                comment=r.comment,
                rated_at=r.rated_at,
                rated_by_name=r.rated_by_name,
                board_id=r.board_id,
                department_id=r.department_id,
            )
            for r in rows
        ]
        return list_page(info.context.locale, ratings, first, cursor, _resolution_key)

    @strawberry.field(
        description="承办台账，每页至多 first 段（1–100），after 为上一页最后一段的 position"
        " / the custody ledger: each holder, level and time, in pages of `first` (1-100)"
        " after the entry at position `after`"
    )
    def custody(
        self, info: Info, first: int | None = MAX_PAGE, after: int | None = None
    ) -> list[CustodyEntry]:
        page = partial(self._custody, info, first, None if after is None else str(after))
        return resolve_loaded(info.context.loaders, "custody", self.rec.id, page)  # type: ignore[return-value]

    def _custody(self, info: Info, first: int | None, after: str | None, rows: Any) -> Any:
        running = running_limit(self.rec.clock_kind, self.rec.due_at)
        # A running limit's late time so far, booked to whoever held it at the deadline.
        late = running_late(rows, running, info.context.now)
        # A finished issue's last holder held it until it was closed, not until now.
        finished = self.rec.closed_at if self.rec.state in FINAL_STATES else None
        entries = [
            made(
                CustodyEntry,
                {
                    "handling_level": LEVELS[r.handling_level],
                    "started_at": r.started_at,
                    "ended_at": r.ended_at or finished,
                    "lapsed_limits": r.lapsed_limits,
                    "position": n + 1,
                    "region_code": r.region_code,
                    "board_id": r.board_id,
                    "department_id": r.department_id,
                    "overdue_so_far": r.overdue_seconds,
                    "running_late": late.seconds if late is not None and late.index == n else 0,
                },
            )
            for n, r in enumerate(rows)
        ]
        return list_page(info.context.locale, entries, first, after, _position_key)

    @strawberry.field(description="疑似重复件及相似度 / near-duplicate candidates, best first")
    async def duplicate_candidates(self, info: Info, first: int = 10) -> list[SimilarIssue]:
        found = await info.context.loaders.duplicates.load(self.rec.id)
        return [SimilarIssue.from_candidate(c) for c in found[:first]]

    @strawberry.field(description="疑似重发的已办结问题 / earlier resolved issues this may repeat")
    async def recurrence_candidates(self, info: Info, first: int = 10) -> list[SimilarIssue]:
        found = await info.context.loaders.recurrences.load(self.rec.id)
        return [SimilarIssue.from_candidate(c) for c in found[:first]]

    @strawberry.field(description="合并到的主问题 / the primary this duplicate was merged into")
    async def merged_into(self, info: Info) -> Issue | None:
        if self.rec.merged_into_id is None:
            return None
        rec = await info.context.loaders.issue.load(self.rec.merged_into_id)
        return Issue.from_record(rec) if rec else None

    @strawberry.field(description="推送七张问题清单及回传 / its pushes to the problem lists")
    async def problem_list_pushes(self, info: Info) -> list[ProblemListPush]:
        return await issue_pushes(info, self.rec.id)

    @strawberry.field(description="所重发的原问题 / the earlier issue this one repeats")
    async def recurrence_of(self, info: Info) -> Issue | None:
        if self.rec.recurrence_of_id is None:
            return None
        rec = await info.context.loaders.issue.load(self.rec.recurrence_of_id)
        return Issue.from_record(rec) if rec else None

    @strawberry.field(description="按标签库推荐的标签 / tags the library suggests from the text")
    async def suggested_tags(self, info: Info) -> list[str]:
        library = await info.context.loaders.tag_library.load(self.rec.origin_region_code[:2])
        picked = suggest_tags(library, f"{self.rec.title}\n{self.rec.content}")
        return [tag.path for tag in picked]

    @strawberry.field(description="交办方（上级）/ the tier that delegated it down")
    async def delegated_from(self, info: Info) -> Region | None:
        if self.rec.delegated_from_region_code is None:
            return None
        rec = await info.context.loaders.region.load(self.rec.delegated_from_region_code)
        return Region.from_record(rec) if rec else None

    # Synchronous when the page that listed the issue fetched its last event (the usual
    # case): no task per issue.
    @strawberry.field
    def last_event(self, info: Info) -> IssueEvent | None:
        return resolve_loaded(  # type: ignore[return-value]
            info.context.loaders, "last_event", self.rec.id, IssueEvent.from_record
        )

    @strawberry.field(
        description="当前调用者此刻可执行的操作（状态机 ∩ 权限策略）/ what the caller may do now"
    )
    def viewer_actions(self, info: Info) -> list[IssueAction]:
        ctx = info.context
        return actions_now(ctx.principal, self.rec, ctx.clock.now(), ctx.settings)


# Dict look-ups: calling an Enum class per row is slow on a page.
_CHANNELS = {m.value: m for m in Channel}
_CATEGORIES = {m.value: m for m in Category}

# How each field of ``Issue`` follows from its record (every field but ``rec``).
_ISSUE_FIELDS: dict[str, Callable[[IssueRecord], Any]] = {
    "id": lambda r: to_global_id("Issue", r.id),
    **{
        name: attrgetter(name)
        for name in (
            "number",
            "title",
            "content",
            "state",
            "proactive",
            "handling_level",
            "route",
            "version",
            "created_at",
            "updated_at",
            "accepted_at",
            "assigned_at",
            "started_at",
            "resolved_at",
            "closed_at",
            "overdue",
            "reply",
            "rating",
            "rated_at",
            "urge_count",
            "last_urged_at",
            "reopen_count",
            "recurred",
            "escalation_count",
            "delegation_return_count",
        )
    },
    "channel": lambda r: _CHANNELS[r.channel],
    "category": lambda r: _CATEGORIES[r.category] if r.category else None,
    "tags": lambda r: list(r.tags),
    "due_at": lambda r: running_limit(r.clock_kind, r.due_at),
}


# The record columns each field of ``Issue`` reads, by GraphQL name: a page whose
# selection names only such fields reads only their columns (``page_issues(columns=)``).
# ``None``: the field wants whole records from the request's issue loader (the candidate
# loaders read the listed issues themselves, ``mergedInto`` may point into the page), so its
# page reads whole rows and primes the loader, as does a field missing here. Tests keep the
# map complete and ask every field through a page and through ``issue(id)``.
ISSUE_FIELD_COLUMNS: dict[str, tuple[str, ...] | None] = {
    "__typename": (),
    "id": ("id",),
    **{to_camel_case(name): (name,) for name in _ISSUE_FIELDS if name not in ("id", "due_at")},
    "dueAt": ("clock_kind", "due_at"),
    "light": ("clock_kind", "warn_at", "due_at"),
    "stateLabel": ("state",),
    "channelLabel": ("channel",),
    "channelRecordId": ("external_id",),
    "handlingLevelLabel": ("handling_level",),
    "nextUrgeAllowedAt": ("last_urged_at",),
    "enterprise": ("enterprise_id",),
    "originRegion": ("origin_region_code",),
    "holdingRegion": ("holding_region_code",),
    "board": ("board_id",),
    "department": ("department_id",),
    "timeline": ("id",),
    "ratings": ("id",),
    "problemListPushes": ("id",),
    "custody": ("id", "clock_kind", "due_at", "state", "closed_at"),
    "duplicateCandidates": None,
    "recurrenceCandidates": None,
    "mergedInto": None,
    "recurrenceOf": None,
    "suggestedTags": ("origin_region_code", "title", "content"),
    "delegatedFrom": ("delegated_from_region_code",),
    "lastEvent": ("id",),
    "viewerActions": (
        "enterprise_id",
        "holding_region_code",
        "board_id",
        "department_id",
        "state",
        "handling_level",
        "delegated_from_region_code",
        "last_urged_at",
        "clock_kind",
        "due_at",
    ),
}


class _IssueField:
    """A field of ``Issue`` not read yet: computed from the record and kept in the object's
    own ``__dict__``, where the next read finds it first (a non-data descriptor). Not
    ``__getattr__``, whose every first read made and dropped an ``AttributeError`` before
    calling it: about a microsecond, and a page of 50 issues makes 200-350 first reads."""

    __slots__ = ("name", "read")

    def __init__(self, name: str, read: Callable[[IssueRecord], Any]) -> None:
        self.name = name
        self.read = read

    def __get__(self, issue: Issue | None, owner: type | None = None) -> Any:
        if issue is None:
            return self
        rec = issue.__dict__.get("rec")
        if rec is None:
            raise AttributeError(f"'Issue' object has no attribute {self.name!r}")
        value = issue.__dict__[self.name] = self.read(rec)
        return value


# Set after the class is built (strawberry and the dataclass machinery see a plain class),
# and not declared in the class body, so that type checkers keep checking attribute names.
for _name, _read in _ISSUE_FIELDS.items():
    setattr(Issue, _name, _IssueField(_name, _read))


@strawberry.type(description="相似问题 / a similar issue and why")
class SimilarIssue:
    issue: Issue
    score: float = strawberry.field(description="综合得分 0..1 / combined score")
    text_similarity: float
    same_enterprise: bool | None
    tag_overlap: float

    @classmethod
    def from_candidate(cls, c: Candidate) -> SimilarIssue:
        return cls(
            issue=Issue.from_record(c.issue),
            score=round(c.score.value, 4),
            text_similarity=round(c.features.text_similarity, 4),
            same_enterprise=c.features.same_enterprise,
            tag_overlap=round(c.features.tag_jaccard, 4),
        )


@register_node("Issue")
async def _issue_node(info: Info, key: str) -> Issue | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.issue.load(int(key))
    return Issue.from_record(rec) if rec else None


def _timeline(locale: str, first: int | None, after: str | None, events: Any) -> Any:
    event = IssueEvent.from_record
    return [event(e) for e in list_page(locale, events, first, after, _event_key)]


def _event_key(event: EventRecord) -> str:
    return str(event.id)


def _position_key(entry: CustodyEntry) -> str:
    return str(entry.position)


def _resolution_key(rating: IssueRating) -> str:
    return str(rating.resolution)


strawberry.enum(
    PushState,
    name="ProblemListPushState",
    description="七张问题清单推送状态 / where a push to the seven problem lists stands",
)


@strawberry.type(
    description="推送至本级七张问题清单应用的重大问题 / an issue pushed to its tier's"
    " seven-problem-lists application, and what the application reported back"
)
class ProblemListPush(Node):
    region_code: str = strawberry.field(
        description="清单应用所属层级 / the tier whose application got the push"
    )
    reason: str = strawberry.field(description="推送理由 / why the leader pushed it")
    state: PushState
    pushed_at: dt.datetime
    pushed_by_name: str | None
    reference: str | None = strawberry.field(
        description="清单应用回执编号 / the application's receipt (its own reference)"
    )
    delivered_at: dt.datetime | None = strawberry.field(description="送达时间 / receipt time")
    last_error: str | None = strawberry.field(
        description="最近一次推送失败原因 / why the last delivery attempt failed"
    )
    reported_at: dt.datetime | None = strawberry.field(
        description="清单应用最近回传时间 / when the application last reported"
    )
    report_message: str | None = strawberry.field(
        description="清单应用最近回传说明 / what the application said last"
    )
    issue_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, r: PushRecord) -> ProblemListPush:
        return cls(
            id=to_global_id("ProblemListPush", r.id),
            region_code=r.region_code,
            reason=r.reason,
            state=r.state,
            pushed_at=r.pushed_at,
            pushed_by_name=r.pushed_by_name,
            reference=r.reference,
            delivered_at=r.delivered_at,
            last_error=r.last_error,
            reported_at=r.reported_at,
            report_message=r.report_message,
            issue_id=r.issue_id,
        )

    @strawberry.field
    def state_label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "ProblemListPushState")

    @strawberry.field(description="清单应用所属层级 / the tier")
    def region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region", self.region_code, lambda: info.context.loaders.region, Region.from_record
        )

    @strawberry.field
    async def issue(self, info: Info) -> Issue | None:
        rec = await info.context.loaders.issue.load(self.issue_id)
        return Issue.from_record(rec) if rec else None


@register_node("ProblemListPush")
async def _push_node(info: Info, key: str) -> ProblemListPush | None:
    pk = as_id(key)
    if pk is None:
        return None
    found = await info.context.loaders.problem_list_push.load(pk)
    return ProblemListPush.from_record(found) if found else None


async def issue_pushes(info: Info, issue_id: int) -> list[ProblemListPush]:
    """An issue's pushes (one per tier), for ``Issue.problemListPushes``."""
    found = await info.context.loaders.problem_list_pushes.load(issue_id)
    return [ProblemListPush.from_record(r) for r in found]
