"""Relay plumbing: opaque global IDs, cursors, ``Node`` and generic connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from closedloop.domain.bounds import int_key

MAX_PAGE = 100
MAX_IDS = 100  # ids of one nodes(ids:)

T = TypeVar("T")

# The width of each node type's integer key (its table's id column: Integer or BigInteger;
# tests/unit/test_relay_keys.py compares this map with the tables). A global id whose key
# does not fit answers like a missing object instead of reaching PostgreSQL. Types not
# listed (Region: its code) have text keys.
KEY_BITS: dict[str, int] = {
    "Account": 32,
    "AuditEntry": 64,
    "TimeLimitRule": 32,
    "WebhookEndpoint": 32,
    "Board": 32,
    "Case": 32,
    "Center": 32,
    "Department": 32,
    "Enterprise": 32,
    "Tag": 32,
    "Issue": 64,
    "IndicatorRecord": 64,
    "ListEntry": 64,
    "ProblemListPush": 64,
}
# No global id or cursor we hand out is longer; a longer one is not ours.
MAX_ID_LENGTH = 200


# ``base64.urlsafe_b64encode`` is these two C calls behind two Python frames; a page
# writes an id per issue.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def to_global_id(type_name: str, key: object) -> strawberry.ID:
    raw = f"{type_name}:{key}".encode()
    text = binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode()
    return strawberry.ID(text.rstrip("="))


def from_global_id(global_id: str) -> tuple[str, str] | None:
    """``(type, key)`` or ``None`` for anything that is not one of our IDs: among them
    ids whose key could not exist (an integer key beyond its column's width, anything
    but printable ASCII)."""
    if len(global_id) > MAX_ID_LENGTH:
        return None
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, key = raw.partition(":")
    if not sep or not type_name or not key or not (key.isascii() and key.isprintable()):
        return None
    bits = KEY_BITS.get(type_name)
    if bits is not None and int_key(key, bits) is None:
        return None
    return type_name, key


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(f"c:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    if len(cursor) > MAX_ID_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not raw.startswith("c:") or not (raw.isascii() and raw.isprintable()):
        return None
    return raw[2:]


class InvalidPaging(ValueError):
    """``first`` out of range or an unreadable cursor: reported as a GraphQL error."""


def page_size(first: int | None) -> int:
    """The page size ``first`` asks for (omitted or null: the largest); 1 to ``MAX_PAGE``,
    else ``InvalidPaging`` (never a silent clamp). The one home of this rule: resolvers and
    the query cost (``closedloop.schema.shape``) both read page sizes through it."""
    size = MAX_PAGE if first is None else first
    if size < 1 or size > MAX_PAGE:
        raise InvalidPaging(f"first must be between 1 and {MAX_PAGE}, got {size}")
    return size


def check_ids(count: int, field: str = "ids") -> None:
    """At most ``MAX_IDS`` ids in one request for several objects (never truncated)."""
    if count > MAX_IDS:
        raise InvalidPaging(f"{field}: at most {MAX_IDS} ids, got {count}")


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def _edge_cursor(root: Edge[object]) -> str:
    if root.given_cursor is not None:
        return root.given_cursor
    assert root.cursor_of is not None
    return root.cursor_of(root.node)


@strawberry.type
class Edge(Generic[T]):
    # Computed when asked for (most pages ask for their nodes only): the cursor given, or
    # one made by ``cursor_of``.
    cursor: str = strawberry.field(resolver=_edge_cursor)
    node: T
    given_cursor: strawberry.Private[str | None] = None
    cursor_of: strawberry.Private[Callable[[T], str] | None] = None


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def make_connection(
    items: list[T],
    cursors: list[str] | Callable[[T], str],
    size: int,
    total: int,
    after: bool,
) -> Connection[T]:
    """Build a page from ``size + 1`` fetched rows (the extra one tells whether more follow).
    ``cursors``: one per item, or how to compute an item's cursor when one is asked for."""
    has_next = len(items) > size
    items = items[:size]
    if callable(cursors):
        cursor_of = cursors
        edges = [Edge(node=n, cursor_of=cursor_of) for n in items]
        first, last = (cursor_of(items[0]), cursor_of(items[-1])) if items else (None, None)
    else:
        cursors = cursors[:size]
        edges = [Edge(node=n, given_cursor=c) for n, c in zip(items, cursors, strict=True)]
        first, last = (cursors[0], cursors[-1]) if cursors else (None, None)
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after,
            start_cursor=first,
            end_cursor=last,
        ),
        total_count=total,
    )
