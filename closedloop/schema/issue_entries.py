"""What an issue carries, as GraphQL: its timeline's events, its custody ledger's entries,
its ratings (and the states, levels and grades they name)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from closedloop import i18n
from closedloop.domain.issues import HandlingLevel, IssueState, RatingGrade
from closedloop.schema.context import Info
from closedloop.schema.reference import resolve_cached
from closedloop.schema.tenancy import Board, Department, Region
from closedloop.services.issues.records import STATES, EventRecord

strawberry.enum(IssueState, name="IssueState", description="诉求状态 / issue state")
strawberry.enum(HandlingLevel, name="HandlingLevel", description="处置层级 / handling level")
strawberry.enum(RatingGrade, name="RatingGrade", description="评价等级 / rating grade")


T = TypeVar("T")


def made(cls: type[T], fields: dict[str, Any]) -> T:
    """An object of a plain strawberry type from all of its fields (``fields``, a new dict:
    it becomes the object's own), as its dataclass ``__init__`` makes it, without the call:
    a nested page builds hundreds. A test keeps the names in step with the class."""
    made = object.__new__(cls)
    made.__dict__ = fields
    return made


@strawberry.type(description="办理轨迹中的一条记录 / one entry of an issue's timeline")
class IssueEvent:
    id: strawberry.ID
    type: str
    occurred_at: dt.datetime
    actor_name: str
    from_state: IssueState | None
    to_state: IssueState | None
    public: bool
    message: str | None
    payload: JSON

    @classmethod
    def from_record(cls, rec: EventRecord) -> IssueEvent:
        # ``made`` written out: a nested page makes hundreds of events.
        event = object.__new__(cls)
        event.__dict__ = {
            "id": str(rec.id),
            "type": rec.type,
            "occurred_at": rec.occurred_at,
            "actor_name": rec.actor_name,
            "from_state": STATES[rec.from_state] if rec.from_state else None,
            "to_state": STATES[rec.to_state] if rec.to_state else None,
            "public": rec.public,
            "message": rec.message,
            "payload": rec.payload,
        }
        return event

    @strawberry.field
    def type_label(self, info: Info) -> str:
        return i18n.label(self.type, info.context.locale, "IssueEventType")


@strawberry.type(description="承办记录 / one holder's custody of an issue")
class CustodyEntry:
    handling_level: HandlingLevel
    started_at: dt.datetime
    ended_at: dt.datetime | None = strawberry.field(
        description="移交他人或问题终结的时间；仍在办为空 / when it passed on or the issue ended"
    )
    lapsed_limits: int = strawberry.field(
        description="截止时间落在本段承办期内且已超时的时限数（记于本承办方）"
        " / time limits whose deadline fell in this holder's span and that ran out"
    )
    position: int = strawberry.field(
        description="在台账中的序号（从 1 起）/ 1-based place in the ledger"
    )
    region_code: strawberry.Private[str]
    board_id: strawberry.Private[int | None]
    department_id: strawberry.Private[int | None]
    overdue_so_far: strawberry.Private[int]
    running_late: strawberry.Private[int]

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region", self.region_code, lambda: info.context.loaders.region, Region.from_record
        )

    @strawberry.field(description="承办板块 / the board that held it (none at center level)")
    def board(self, info: Info) -> Board | None:
        if self.board_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "board", self.board_id, lambda: info.context.loaders.board, Board.from_record
        )

    @strawberry.field(description="承办部门 / the department that held it")
    def department(self, info: Info) -> Department | None:
        if self.department_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "department",
            self.department_id,
            lambda: info.context.loaders.department,
            Department.from_record,
        )

    @strawberry.field(description="承办时长（秒）/ how long this holder had it")
    def held_seconds(self, info: Info) -> int:
        end = self.ended_at or info.context.clock.now()
        return int((end - self.started_at).total_seconds())

    @strawberry.field(
        description="超时时长（秒），记于截止时为承办方者，不论之后由谁办结"
        " / time past a limit, booked to the holder when its deadline passed"
    )
    def overdue_seconds(self) -> int:
        return self.overdue_so_far + self.running_late


@strawberry.type(description="企业评价 / one rating of one resolution, kept when reopened")
class IssueRating:
    resolution: int = strawberry.field(description="第几次办结 / which resolution it rates (1…)")
    resolved_at: dt.datetime
    grade: RatingGrade
    comment: str | None
    rated_at: dt.datetime
    rated_by_name: str | None = strawberry.field(description="评价人 / who rated")
    board_id: strawberry.Private[int | None]
    department_id: strawberry.Private[int | None]

    @strawberry.field
    def grade_label(self, info: Info) -> str:
        return i18n.label(self.grade, info.context.locale, "RatingGrade")

    @strawberry.field(description="办结时的承办板块 / the board that made the rated resolution")
    async def board(self, info: Info) -> Board | None:
        if self.board_id is None:
            return None
        rec = await info.context.loaders.board.load(self.board_id)
        return Board.from_record(rec) if rec else None

    @strawberry.field(description="办结时的承办部门 / the department that made it")
    async def department(self, info: Info) -> Department | None:
        if self.department_id is None:
            return None
        rec = await info.context.loaders.department.load(self.department_id)
        return Department.from_record(rec) if rec else None
