"""Reading issues: ``issue(id)`` and the ``issues(filter, orderBy, ...)`` connection, used by
the root fields (``closedloop.resolvers.query``) and by types that list issues (a dashboard
tag)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import strawberry
from graphql import OperationDefinitionNode
from strawberry.types.nodes import SelectedField, Selection

from closedloop.caches import BoundedCache, text_size
from closedloop.domain.bounds import LIST_MAX
from closedloop.domain.issues import Category, Channel, HandlingLevel, IssueState, Light
from closedloop.domain.regions import is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import ISSUE_FIELD_COLUMNS, Issue
from closedloop.schema.paging import paging
from closedloop.schema.relay import (
    Connection,
    encode_cursor,
    from_global_id,
    make_connection,
)
from closedloop.services.issues.queries import (
    IssueFilter,
    IssueOrder,
    decode_key,
    encode_key,
    page_issues,
    sort_value,
)
from closedloop.tenancy.scope import Internal


@strawberry.input(description="诉求筛选 / issue filters (all combine with AND)")
class IssueFilterInput:
    states: list[IssueState] | None = None
    light: Light | None = None
    board_id: strawberry.ID | None = None
    department_id: strawberry.ID | None = None
    category: Category | None = None
    channel: Channel | None = None
    proactive: bool | None = None
    tags_any: list[str] | None = None
    tags_all: list[str] | None = None
    origin_within: str | None = strawberry.field(
        default=None, description="企业所在地在此区划之下 / origin in this subtree"
    )
    holding_region: str | None = None
    enterprise_id: strawberry.ID | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    updated_since: dt.datetime | None = strawberry.field(
        default=None, description="在此时刻及以后有变化 / changed at or after this time"
    )
    channel_record_ids: list[str] | None = strawberry.field(
        default=None,
        description="渠道自身的记录号（至多100个）：这些记录所成的问题 / the issues these"
        " records of a channel became (at most 100 record ids)",
    )
    text: str | None = strawberry.field(default=None, description="标题或内容包含 / text")
    pool: bool = strawberry.field(
        default=False, description="本级问题池：本级承办且未办结 / my region's open issues"
    )
    in_pool: bool | None = strawberry.field(
        default=None,
        description="true: 进入问题池（排重合并后）；false: 原渠道办结或已合并 / in the pool",
    )
    handling_levels: list[HandlingLevel] | None = None


def decode_id(info: Info, value: str | None, type_name: str, field: str) -> int | None:
    if value is None:
        return None
    decoded = from_global_id(value)
    if decoded is None or decoded[0] != type_name or not decoded[1].isdigit():
        raise PublicError(
            "INVALID_ARGUMENT", f"{field} is not a {type_name} id", info.context.locale, field=field
        )
    return int(decoded[1])


def to_filter(info: Info, f: IssueFilterInput | None) -> IssueFilter:
    if f is None:
        return IssueFilter()
    for name, code in (("originWithin", f.origin_within), ("holdingRegion", f.holding_region)):
        if code is not None and not is_valid_code(code):
            raise PublicError(
                "INVALID_REGION_CODE", f"{name}={code!r}", info.context.locale, field=name
            )
    return IssueFilter(
        states=f.states,
        light=f.light,
        board_id=decode_id(info, f.board_id, "Board", "boardId"),
        department_id=decode_id(info, f.department_id, "Department", "departmentId"),
        category=f.category.value if f.category else None,
        channel=f.channel.value if f.channel else None,
        proactive=f.proactive,
        tags_any=f.tags_any,
        tags_all=f.tags_all,
        origin_within=f.origin_within,
        holding_region=f.holding_region,
        enterprise_id=decode_id(info, f.enterprise_id, "Enterprise", "enterpriseId"),
        created_from=f.created_from,
        created_to=f.created_to,
        updated_since=f.updated_since,
        record_ids=_record_ids(info, f.channel_record_ids),
        text=f.text.strip() if f.text and f.text.strip() else None,
        pool=f.pool,
        in_pool=f.in_pool,
        handling_levels=[h.value for h in f.handling_levels] if f.handling_levels else None,
    )


def _record_ids(info: Info, ids: list[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if len(ids) > LIST_MAX:
        raise PublicError(
            "INVALID_ARGUMENT",
            f"at most {LIST_MAX} record ids",
            info.context.locale,
            field="channelRecordIds",
        )
    return sorted({i.strip() for i in ids})


@dataclass(frozen=True, slots=True)
class PageSelection:
    """What a query asks of each issue of a page."""

    last_event: bool
    # The record columns its fields read (``ISSUE_FIELD_COLUMNS``); None: whole rows.
    columns: frozenset[str] | None
    # Nested lists read with the page (``page_issues``): timeline, custody.
    relations: frozenset[str] = frozenset()


def _page_selection(info: Info) -> PageSelection:
    """The selection under ``nodes`` and ``edges { node }``, remembered per operation and
    field path: the parser cache hands back the same document for the same query, and
    converting the selection costs more than the rest of the page's resolver work.
    Directives are not evaluated (their variables change between requests): a field under
    ``@skip`` or ``@include`` counts as asked for."""
    operation = info.operation
    key = (id(operation), tuple(k for k in info.path.as_list() if isinstance(k, str)))
    known = _SELECTIONS.get(key)
    if known is not None and known[0] is operation:
        return known[1]
    names = {field.name for field in _issue_fields(info.selected_fields)}
    columns: set[str] | None = set()
    for name in names:
        read = ISSUE_FIELD_COLUMNS.get(name)
        if read is None or columns is None:
            columns = None
        else:
            columns.update(read)
    found = PageSelection(
        "lastEvent" in names,
        None if columns is None else frozenset(columns),
        frozenset(names & _RELATIONS),
    )
    _SELECTIONS[key] = (operation, found)
    return found


_RELATIONS = frozenset({"timeline", "custody"})


def _selection_size(key: object, entry: tuple[OperationDefinitionNode, PageSelection]) -> int:
    """The entry keeps its operation (and so its document) alive."""
    loc = entry[0].loc
    return text_size(loc.source.body) if loc is not None else 64 * 1024


_SELECTIONS: BoundedCache[
    tuple[int, tuple[str, ...]], tuple[OperationDefinitionNode, PageSelection]
] = BoundedCache("page-selections", 256, 16 * 1024 * 1024, _selection_size)


def _issue_fields(connections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields asked of each issue, from the connection fields' selections."""
    for connection in _fields(connections):
        for field in _fields(connection.selections):
            if field.name == "nodes":
                yield from _fields(field.selections)
            elif field.name == "edges":
                for edge_field in _fields(field.selections):
                    if edge_field.name == "node":
                        yield from _fields(edge_field.selections)


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """Fields, with those of fragments (spread or inline) in their place."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


async def issue(info: Info, id: strawberry.ID) -> Issue | None:
    decoded = from_global_id(id)
    if decoded is None or decoded[0] != "Issue" or not decoded[1].isdigit():
        return None
    rec = await info.context.loaders.issue.load(int(decoded[1]))
    return Issue.from_record(rec) if rec else None


async def issues(
    info: Info,
    filter: IssueFilterInput | None,
    order_by: IssueOrder,
    first: int | None,
    after: str | None,
) -> Connection[Issue]:
    locale = info.context.locale
    size, key = paging(locale, first, after, decode_key)
    f = to_filter(info, filter)
    principal = info.context.principal
    now = info.context.now
    loaders = info.context.loaders
    # A page that shows each issue's last event gets them in its own statement, rather
    # than in a loader batch afterwards; it reads only the columns its fields need.
    selection = _page_selection(info)
    # Per-issue internal entries (Internal.SOME) come through the events loader instead.
    timelines = "timeline" in selection.relations and loaders.internal is not Internal.SOME
    async with loaders.reader.use() as conn:
        page = await page_issues(
            conn,
            principal,
            f,
            order_by,
            size + 1,
            key,
            now,
            last_events=selection.last_event and loaders.internal is not Internal.SOME,
            public_events_only=loaders.public_only,
            columns=selection.columns,
            timelines=timelines,
            ledgers="custody" in selection.relations,
        )
    recs, total = page.records, page.total
    if page.last_events is not None:
        loaders.prime("last_event", {rec.id: page.last_events.get(rec.id) for rec in recs})
    if not page.partial:
        loaders.prime("issue", {rec.id: rec for rec in recs})
    if page.timelines is not None:
        loaders.prime("events", page.timelines)
    if page.ledgers is not None:
        loaders.prime("custody", page.ledgers)
    return make_connection(
        [Issue.from_record(r) for r in recs],
        lambda issue: encode_cursor(encode_key(sort_value(issue.rec, order_by), issue.rec.id)),
        size,
        total,
        after=after is not None,
    )
