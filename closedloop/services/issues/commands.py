"""Command handlers of the issue loop. Each runs inside ``IssueCommands.run`` (one unit of
work): it loads its issue through scope, policy and version, applies the state machine,
and records events and notifications in the same transaction. The handlers typed with
``UnitOfWork`` do no I/O of their own: the data generator runs them too, on COPY buffers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from closedloop.authz.enforcer import can, can_on_region
from closedloop.authz.roles import Action, Role, Target
from closedloop.catalog import DEDICATED_ROUTES, get_catalog
from closedloop.db import tables as t
from closedloop.domain import sla
from closedloop.domain.bounds import EXTERNAL_ID_MAX, NAME_MAX, TAG_MAX, TAGS_MAX, TEXT_MAX
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.domain.custody import holder_of
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import (
    Category,
    Channel,
    ClockKind,
    Command,
    HandlingLevel,
    IssueState,
    RatingGrade,
    after_rating,
    next_urge_at,
    urge_too_soon,
)
from closedloop.domain.regions import is_valid_code
from closedloop.domain.similarity import IssueText
from closedloop.domain.sla import is_late, running_limit
from closedloop.identity.channel_clients import channel_of
from closedloop.services.issues.actions import check, urge_interval
from closedloop.services.issues.records import IssueRecord, enterprise_by_credit_code
from closedloop.services.issues.time_limits import start_clock
from closedloop.services.issues.unit_of_work import CommandTx, UnitOfWork
from closedloop.services.learning.merging import tell_merged_reporters
from closedloop.services.learning.similar import key_rows, write_keys

E = IssueErrorCode
TITLE_MAX = NAME_MAX


def required_text(value: str | None, field_name: str, limit: int = TEXT_MAX) -> str:
    text = (value or "").strip()
    if not text:
        raise IssueCommandError(E.REQUIRED, field_name)
    if len(text) > limit:
        raise IssueCommandError(E.TOO_LONG, field_name, f"≤ {limit}")
    return text


def required_credit_code(cmd: SubmitIssue) -> str:
    """The command's credit code, normalised: required, and valid by its check digit."""
    if not cmd.credit_code:
        raise IssueCommandError(E.REQUIRED, "creditCode")
    try:
        return normalize_credit_code(cmd.credit_code)
    except InvalidCreditCode as exc:
        raise IssueCommandError(E.INVALID_CREDIT_CODE, "creditCode", exc.reason) from exc


def clean_tags(tags: list[str] | None) -> list[str]:
    out: list[str] = []
    for tag in tags or []:
        tag = tag.strip()
        if not tag or len(tag) > TAG_MAX:
            raise IssueCommandError(E.INVALID, "tags", tag[:TAG_MAX])
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise IssueCommandError(E.INVALID, "tags", f"≤ {TAGS_MAX}")
    return out


# --- intake --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitIssue:
    title: str
    content: str
    channel: Channel | None = None
    category: Category | None = None
    tags: list[str] = field(default_factory=list)
    credit_code: str | None = None
    enterprise_name: str | None = None
    enterprise_region: str | None = None
    external_id: str | None = None
    # A simple matter already settled in its channel: kept in the library with its result.
    settled_result: str | None = None


def issue_number(region: str, year: int, last: int) -> str:
    """An issue's number: its origin, the year and the counter's value."""
    return f"{region}-{year}-{last:06d}"


async def _next_number(tx: CommandTx, region: str) -> str:
    year = tx.now.year
    last = (
        await tx.conn.execute(
            pg_insert(t.issue_number)
            .values(region_code=region, year=year, last=1)
            .on_conflict_do_update(
                index_elements=[t.issue_number.c.region_code, t.issue_number.c.year],
                set_={"last": t.issue_number.c.last + 1},
            )
            .returning(t.issue_number.c.last)
        )
    ).scalar_one()
    return issue_number(region, year, last)


async def _enterprise_for_staff(
    tx: CommandTx, cmd: SubmitIssue, action: Action = Action.ISSUE_SUBMIT_ON_BEHALF
) -> tuple[int, str]:
    """The enterprise a staff member or a channel system submits for (``action``: the
    policy's name for that), registered on the spot when new and inside its scope."""
    code = required_credit_code(cmd)
    found = await enterprise_by_credit_code(tx.conn, code)
    if found is not None:
        # An enterprise outside the caller's subtree answers like an unknown one.
        if not can_on_region(tx.principal, action, found.region_code):
            raise IssueCommandError(E.ENTERPRISE_NOT_FOUND, "creditCode")
        return found.id, found.region_code
    if not cmd.enterprise_name or not cmd.enterprise_region:
        raise IssueCommandError(
            E.ENTERPRISE_NOT_FOUND, "creditCode", "give enterpriseName and enterpriseRegion"
        )
    region = cmd.enterprise_region
    if not is_valid_code(region) or not can_on_region(tx.principal, action, region):
        raise IssueCommandError(E.REGION_NOT_FOUND, "enterpriseRegion")
    exists = await tx.conn.execute(sa.select(t.region.c.code).where(t.region.c.code == region))
    if exists.first() is None:
        raise IssueCommandError(E.REGION_NOT_FOUND, "enterpriseRegion")
    name = required_text(cmd.enterprise_name, "enterpriseName", 200)
    new_id = (
        await tx.conn.execute(
            pg_insert(t.enterprise)
            .values(credit_code=code, name=name, region_code=region)
            .on_conflict_do_nothing(index_elements=[t.enterprise.c.credit_code])
            .returning(t.enterprise.c.id)
        )
    ).scalar_one_or_none()
    if new_id is None:
        # Registered already, outside the caller's scope (row-level security hid it).
        raise IssueCommandError(E.ENTERPRISE_NOT_FOUND, "creditCode")
    return int(new_id), region


async def _bound_channel(tx: CommandTx, cmd: SubmitIssue) -> Channel:
    """A channel system submits through its own channel only."""
    p = tx.principal
    if (
        p.account_id is None
        or p.region_code is None
        or not can(p, Action.ISSUE_SUBMIT_FROM_CHANNEL, Target.SELF)
    ):
        raise IssueCommandError(E.PERMISSION_DENIED)
    bound = await channel_of(tx.conn, p.account_id)
    if bound is None:
        raise IssueCommandError(E.PERMISSION_DENIED)
    if cmd.channel is not None and cmd.channel.value != bound:
        raise IssueCommandError(E.PERMISSION_DENIED, "channel", bound)
    return Channel(bound)


async def submit(tx: CommandTx, cmd: SubmitIssue) -> int:
    p = tx.principal
    title = required_text(cmd.title, "title", TITLE_MAX)
    content = required_text(cmd.content, "content")
    tags = clean_tags(cmd.tags)
    if p.role is Role.ENTERPRISE:
        if p.enterprise_id is None or p.region_code is None:
            raise IssueCommandError(E.PERMISSION_DENIED)
        if not can(p, Action.ISSUE_SUBMIT, Target.OWN):
            raise IssueCommandError(E.PERMISSION_DENIED)
        if cmd.credit_code:
            own = await tx.conn.execute(
                sa.select(t.enterprise.c.credit_code).where(t.enterprise.c.id == p.enterprise_id)
            )
            if own.scalar_one() != cmd.credit_code.strip().upper():
                raise IssueCommandError(E.PERMISSION_DENIED, "creditCode", "own enterprise only")
        enterprise_id, origin = p.enterprise_id, p.region_code
        holding = origin
        channel = cmd.channel or Channel.ONLINE_PORTAL
    elif p.role is Role.CHANNEL:
        channel = await _bound_channel(tx, cmd)
        enterprise_id, origin = await _enterprise_for_staff(
            tx, cmd, Action.ISSUE_SUBMIT_FROM_CHANNEL
        )
        holding = p.region_code or origin  # taken in by the channel's region's center
    else:
        if p.region_code is None or not can(p, Action.ISSUE_SUBMIT_ON_BEHALF, Target.SELF):
            raise IssueCommandError(E.PERMISSION_DENIED)
        if cmd.channel is None:
            raise IssueCommandError(E.REQUIRED, "channel")
        channel = cmd.channel
        enterprise_id, origin = await _enterprise_for_staff(tx, cmd)
        holding = p.region_code  # taken in by this center
    catalog_channel = get_catalog().channel(channel.value)
    assert catalog_channel is not None
    external_id = cmd.external_id
    if external_id is not None:
        external_id = required_text(external_id, "externalId", EXTERNAL_ID_MAX)
        taken = await tx.conn.execute(
            sa.select(t.issue.c.id).where(
                t.issue.c.channel == channel.value, t.issue.c.external_id == external_id
            )
        )
        if taken.first() is not None:
            raise IssueCommandError(E.DUPLICATE_EXTERNAL_ID, "externalId", external_id)
    settled = None
    if cmd.settled_result is not None:
        if p.role is Role.ENTERPRISE:
            raise IssueCommandError(E.PERMISSION_DENIED, "settledResult")
        settled = required_text(cmd.settled_result, "settledResult")
    level = HandlingLevel.ORIGINAL_CHANNEL if settled else HandlingLevel.CENTER
    state = IssueState.CLOSED if settled else IssueState.SUBMITTED
    number = await _next_number(tx, origin)
    issue_id = (
        await tx.conn.execute(
            t.issue.insert()
            .values(
                number=number,
                title=title,
                content=content,
                enterprise_id=enterprise_id,
                origin_region_code=origin,
                holding_region_code=holding,
                channel=channel.value,
                proactive=catalog_channel.proactive,
                external_id=external_id,
                category=cmd.category.value if cmd.category else None,
                tags=tags,
                handling_level=level.value,
                state=state.value,
                submitted_by=p.account_id,
                created_at=tx.now,
                updated_at=tx.now,
                reply=settled,
                resolved_at=tx.now if settled else None,
                closed_at=tx.now if settled else None,
            )
            .returning(t.issue.c.id)
        )
    ).scalar_one()
    await tx.open_custody(int(issue_id), holder_of(holding, level.value, None, None, state.value))
    await tx.append_event(
        int(issue_id),
        "SETTLED_IN_CHANNEL" if settled else "SUBMITTED",
        from_state=None,
        to_state=state,
        public=True,
        message=settled,
        payload={"channel": channel.value, "number": number},
    )
    text = IssueText(title, content, str(enterprise_id), frozenset(tags))
    await write_keys(tx.conn, [key_rows(int(issue_id), text, origin, tx.now)])
    return int(issue_id)


# --- the center ----------------------------------------------------------------------


async def accept(tx: UnitOfWork, issue_id: int, version: int) -> int:
    issue = await tx.load_for(Action.ISSUE_ACCEPT, issue_id, version)
    to = tx.next_state(Command.ACCEPT, issue)
    clock = await start_clock(tx, issue, ClockKind.ASSIGN)
    await tx.update(issue, state=to, accepted_at=tx.now, **clock)
    await tx.event(issue, "ACCEPTED", public=True, to_state=to)
    await tx.notify_enterprise(issue, "ISSUE_ACCEPTED", f"您反映的问题（{issue.number}）已受理。")
    return issue.id


async def reject(tx: UnitOfWork, issue_id: int, version: int, reason: str) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_REJECT, issue_id, version)
    check(Command.REJECT, issue, tx.now, tx.settings)
    to = tx.next_state(Command.REJECT, issue)
    await tx.update(issue, state=to, reason=reason, closed_at=tx.now, **sla.stopped())
    await tx.event(issue, "REJECTED", public=True, to_state=to, message=reason)
    await tx.notify_enterprise(
        issue, "ISSUE_REJECTED", f"您反映的问题（{issue.number}）不予受理：{reason}"
    )
    return issue.id


async def _assign(
    tx: UnitOfWork,
    issue: IssueRecord,
    board_id: int | None,
    department_id: int | None,
    category: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    if (board_id is None) == (department_id is None):
        raise IssueCommandError(E.REQUIRED, "boardId", "exactly one of boardId, departmentId")
    region = issue.holding_region_code
    if board_id is not None and not await tx.unit_in("board", board_id, region):
        raise IssueCommandError(E.BOARD_NOT_FOUND, "boardId")
    if department_id is not None and not await tx.unit_in("department", department_id, region):
        raise IssueCommandError(E.DEPARTMENT_NOT_FOUND, "departmentId")
    to = tx.next_state(Command.ASSIGN, issue)
    changes: dict[str, Any] = dict(extra or {})
    if issue.clock_kind is ClockKind.ASSIGN or issue.clock_kind is None:
        # Handing back and re-assigning does not reset the reply limit.
        changes["assign_overdue"] = is_late(tx.now, running_limit(issue.clock_kind, issue.due_at))
        changes.update(await start_clock(tx, issue, ClockKind.REPLY, category))
    await tx.update(
        issue,
        state=to,
        board_id=board_id,
        department_id=department_id,
        assigned_at=tx.now,
        handling_level=HandlingLevel.BOARD,
        **changes,
    )
    unit = {"boardId": board_id} if board_id is not None else {"departmentId": department_id}
    await tx.event(issue, "ASSIGNED", public=True, to_state=to, payload=unit)
    await tx.notify_handler(
        issue,
        "ISSUE_ASSIGNED",
        f"新交办问题（{issue.number}）：{issue.title}",
        board_id=board_id,
        department_id=department_id,
    )
    await tx.notify_enterprise(issue, "ISSUE_ASSIGNED", f"您反映的问题（{issue.number}）已交办。")


async def assign(
    tx: UnitOfWork, issue_id: int, version: int, board_id: int | None, department_id: int | None
) -> int:
    issue = await tx.load_for(Action.ISSUE_ASSIGN, issue_id, version)
    await _assign(tx, issue, board_id, department_id)
    return issue.id


async def triage(
    tx: UnitOfWork,
    issue_id: int,
    version: int,
    category: Category,
    tags: list[str] | None,
    board_id: int | None = None,
    department_id: int | None = None,
) -> int:
    """Classify; guided categories leave for their dedicated route, others may be assigned."""
    issue = await tx.load_for(Action.ISSUE_TRIAGE, issue_id, version)
    clean = clean_tags(tags) if tags is not None else list(issue.tags)
    code = category.value
    if code in DEDICATED_ROUTES:
        to = tx.next_state(Command.ROUTE_OUT, issue)
        zh, en = DEDICATED_ROUTES[code]
        await tx.update(
            issue,
            state=to,
            category=category,
            tags=clean,
            route=zh,
            closed_at=tx.now,
            **sla.stopped(),
        )
        await tx.event(
            issue,
            "ROUTED_OUT",
            public=True,
            to_state=to,
            message=zh,
            payload={"category": code, "route": {"zh": zh, "en": en}},
        )
        await tx.notify_enterprise(
            issue, "ISSUE_ROUTED_OUT", f"您反映的问题（{issue.number}）已转{zh}办理。"
        )
        return issue.id
    tx.next_state(Command.TRIAGE, issue)
    payload = {"category": code, "tags": clean}
    if board_id is None and department_id is None:
        await tx.update(issue, category=category, tags=clean)
        await tx.event(issue, "TRIAGED", public=False, payload=payload)
        return issue.id
    await tx.event(issue, "TRIAGED", public=False, payload=payload)
    await _assign(
        tx,
        issue,
        board_id,
        department_id,
        code,
        extra={"category": code, "tags": clean},
    )
    return issue.id


# --- boards and departments ----------------------------------------------------------


async def start(tx: UnitOfWork, issue_id: int, version: int) -> int:
    issue = await tx.load_for(Action.ISSUE_START, issue_id, version)
    to = tx.next_state(Command.START, issue)
    await tx.update(issue, state=to, started_at=tx.now)
    await tx.event(issue, "STARTED", public=True, to_state=to)
    return issue.id


async def add_note(tx: UnitOfWork, issue_id: int, version: int, text: str, public: bool) -> int:
    text = required_text(text, "text", 5000)
    issue = await tx.load_for(Action.ISSUE_NOTE, issue_id, version)
    tx.next_state(Command.NOTE, issue)
    await tx.update(issue)
    await tx.event(issue, "NOTE", public=public, message=text)
    return issue.id


async def hand_back(tx: UnitOfWork, issue_id: int, version: int, reason: str) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_HAND_BACK, issue_id, version)
    to = tx.next_state(Command.HAND_BACK, issue)
    await tx.update(
        issue, state=to, board_id=None, department_id=None, handling_level=HandlingLevel.CENTER
    )
    await tx.event(
        issue,
        "HANDED_BACK",
        public=False,
        to_state=to,
        message=reason,
        payload={"boardId": issue.board_id, "departmentId": issue.department_id},
    )
    await tx.notify(
        issue,
        "OA",
        f"center:{issue.holding_region_code}",
        "ISSUE_HANDED_BACK",
        f"问题（{issue.number}）被退回中心统筹：{reason}",
    )
    return issue.id


async def resolve(tx: UnitOfWork, issue_id: int, version: int, reply: str) -> int:
    reply = required_text(reply, "reply")
    issue = await tx.load_for(Action.ISSUE_RESOLVE, issue_id, version)
    to = tx.next_state(Command.RESOLVE, issue)
    overdue = issue.overdue or is_late(tx.now, running_limit(issue.clock_kind, issue.due_at))
    await tx.update(
        issue,
        state=to,
        resolved_at=tx.now,
        reply=reply,
        overdue=overdue,
        rating=None,
        rated_at=None,
        **sla.stopped(),
    )
    await tx.event(
        issue, "RESOLVED", public=True, to_state=to, message=reply, payload={"overdue": overdue}
    )
    await tx.notify_enterprise(
        issue, "ISSUE_RESOLVED", f"您反映的问题（{issue.number}）已办结，请评价：{reply[:200]}"
    )
    await tell_merged_reporters(tx, issue, reply)
    return issue.id


# --- the enterprise ------------------------------------------------------------------


async def urge(tx: UnitOfWork, issue_id: int, version: int) -> int:
    issue = await tx.load_for(Action.ISSUE_URGE, issue_id, version)
    tx.next_state(Command.URGE, issue)
    interval = urge_interval(tx.settings)
    if urge_too_soon(issue.last_urged_at, interval, tx.now):
        next_at = next_urge_at(issue.last_urged_at, interval)
        assert next_at is not None
        raise IssueCommandError(E.URGE_TOO_SOON, None, f"next allowed at {next_at.isoformat()}")
    await tx.update(issue, last_urged_at=tx.now, urge_count=issue.urge_count + 1)
    await tx.event(issue, "URGED", public=True)
    await tx.notify_handler(issue, "ISSUE_URGED", f"企业催办问题（{issue.number}）：{issue.title}")
    return issue.id


async def _keep_rating(
    tx: UnitOfWork, issue: IssueRecord, grade: RatingGrade, comment: str | None
) -> None:
    """Every rating stays on record (``issue_rating``): the resolution it rates (ordinal and
    time) and the holder that resolved it, whatever happens to the issue afterwards."""
    resolutions = await tx.resolutions(issue.id)
    holder = holder_of(
        issue.holding_region_code,
        issue.handling_level.value,
        issue.board_id,
        issue.department_id,
        issue.state.value,
    )
    assert issue.resolved_at is not None  # only a resolved issue is rated
    await tx.record_rating(
        {
            "issue_id": issue.id,
            "resolution": max(1, resolutions),
            "resolved_at": issue.resolved_at,
            "region_code": holder.region_code,
            "board_id": holder.board_id,
            "department_id": holder.department_id,
            "grade": grade.value,
            "comment": comment,
            "rated_by": tx.principal.account_id,
            "rated_at": tx.now,
        }
    )


async def rate(
    tx: UnitOfWork, issue_id: int, version: int, grade: RatingGrade, comment: str | None
) -> int:
    issue = await tx.load_for(Action.ISSUE_RATE, issue_id, version)
    tx.next_state(Command.RATE, issue)
    to = after_rating(grade)
    comment = (comment or "").strip()[:2000] or None
    changes: dict[str, Any] = {
        "state": to,
        "rating": grade,
        "rating_comment": comment,
        "rated_at": tx.now,
    }
    if to is IssueState.CLOSED:
        changes["closed_at"] = tx.now
    else:
        changes["reopen_count"] = issue.reopen_count + 1
        changes.update(await start_clock(tx, issue, ClockKind.ASSIGN))
    await _keep_rating(tx, issue, grade, comment)
    await tx.update(issue, **changes)
    await tx.event(
        issue, "RATED", public=True, to_state=to, message=comment, payload={"grade": grade.value}
    )
    if to is IssueState.REOPENED:
        await tx.notify(
            issue,
            "OA",
            f"center:{issue.holding_region_code}",
            "ISSUE_REOPENED",
            f"企业对问题（{issue.number}）不满意，已重新办理。",
        )
    return issue.id


async def reopen(tx: UnitOfWork, issue_id: int, version: int, reason: str) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_REOPEN, issue_id, version)
    to = tx.next_state(Command.REOPEN, issue)
    clock = await start_clock(tx, issue, ClockKind.ASSIGN)
    await tx.update(
        issue,
        state=to,
        reopen_count=issue.reopen_count + 1,
        closed_at=None,
        reason=reason,
        **clock,
    )
    await tx.event(issue, "REOPENED", public=True, to_state=to, message=reason)
    await tx.notify(
        issue,
        "OA",
        f"center:{issue.holding_region_code}",
        "ISSUE_REOPENED",
        f"问题（{issue.number}）重新办理：{reason}",
    )
    return issue.id
