"""Reading ``first``/``after`` of a connection into a page size and a decoded cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from closedloop.domain.bounds import int_key
from closedloop.schema.errors import PublicError
from closedloop.schema.relay import InvalidPaging, decode_cursor, page_size

T = TypeVar("T")


def as_text(raw: str) -> str | None:
    return raw


def as_id(raw: str) -> int | None:
    """A BigInteger id."""
    return int_key(raw, 64)


def as_int_id(raw: str) -> int | None:
    """An Integer id."""
    return int_key(raw, 32)


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


def list_page(
    locale: str, items: Sequence[T], first: int | None, after: str | None, key: Callable[[T], str]
) -> list[T]:
    """A page of a list held in memory: the ``first`` items after the one whose key is
    ``after`` (from the start when ``after`` is null). ``first`` 1–100 (``page_size``); an
    ``after`` that names no item is a typed INVALID_PAGING."""
    size, _ = paging(locale, first, None, as_text)
    start = 0
    if after is not None:
        keys = [key(item) for item in items]
        if after not in keys:
            raise PublicError(
                "INVALID_PAGING", f"no entry {after!r} to continue after", locale, field="after"
            )
        start = keys.index(after) + 1
    return list(items[start : start + size])
