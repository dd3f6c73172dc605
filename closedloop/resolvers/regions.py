"""Root resolvers for the region tree."""

from __future__ import annotations

from closedloop.domain.regions import RegionLevel, is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.paging import as_text, paging
from closedloop.schema.relay import (
    Connection,
    encode_cursor,
    make_connection,
)
from closedloop.schema.tenancy import Region, can_read_regions
from closedloop.services import tenancy


def _check_code(info: Info, code: str, field: str) -> None:
    if not is_valid_code(code):
        raise PublicError(
            "INVALID_REGION_CODE", f"{field}={code!r}", info.context.locale, field=field
        )


async def region(info: Info, code: str) -> Region | None:
    _check_code(info, code, "code")
    if not can_read_regions(info):
        return None
    rec = await info.context.loaders.region.load(code)
    return Region.from_record(rec) if rec else None


def empty_connection() -> Connection[Region]:
    return make_connection([], [], 0, 0, after=False)


async def regions(
    info: Info,
    parent_code: str | None,
    level: RegionLevel | None,
    within: str | None,
    name_contains: str | None,
    first: int | None,
    after: str | None,
) -> Connection[Region]:
    for field, value in (("parentCode", parent_code), ("within", within)):
        if value is not None:
            _check_code(info, value, field)
    size, after_code = paging(info.context.locale, first, after, as_text)
    if not can_read_regions(info):
        return empty_connection()
    f = tenancy.RegionFilter(parent_code, level, within, name_contains)
    async with info.context.db.read_reference() as conn:
        recs, total = await tenancy.list_regions(conn, f, size + 1, after_code)
    return make_connection(
        [Region.from_record(r) for r in recs],
        [encode_cursor(r.code) for r in recs],
        size,
        total,
        after=after is not None,
    )
