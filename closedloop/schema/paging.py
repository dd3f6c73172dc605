"""Reading ``first``/``after`` of a connection into a page size and a decoded cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from closedloop.schema.errors import PublicError
from closedloop.schema.relay import InvalidPaging, decode_cursor, page_size

T = TypeVar("T")


def as_text(raw: str) -> str | None:
    return raw


def as_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def paging(
    locale: str, first: int | None, after: str | None, parse: Callable[[str], T | None]
) -> tuple[int, T | None]:
    """The page size (≤ 100) and the cursor's key; bad values are a typed INVALID_PAGING."""
    try:
        size = page_size(first)
    except InvalidPaging as exc:
        raise PublicError("INVALID_PAGING", str(exc), locale, field="first") from exc
    if after is None:
        return size, None
    raw = decode_cursor(after)
    key = parse(raw) if raw is not None else None
    if key is None:
        raise PublicError("INVALID_PAGING", "unreadable cursor", locale, field="after")
    return size, key
