"""Argument checks shared by the evaluation fields: each bad value is a typed error naming
the field."""

from __future__ import annotations

from collections.abc import Sequence

from closedloop import i18n
from closedloop.domain.periods import InvalidPeriod, Period, parse_period
from closedloop.domain.regions import is_valid_code
from closedloop.domain.schemes import (
    Label,
    Scheme,
    UnknownScheme,
)
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError


def localized(info: Info, label: Label) -> str:
    return label.en if info.context.locale == i18n.EN else label.zh


# --- argument checks (typed errors) ----------------------------------------------------------


def check_region(info: Info, code: str, field: str = "region") -> None:
    if not is_valid_code(code):
        raise PublicError(
            "INVALID_REGION_CODE", f"{field}={code!r}", info.context.locale, field=field
        )


async def schemes_in_force(info: Info, key: str, periods: Sequence[Period]) -> list[Scheme]:
    """The scheme ``key`` in force for each period: its active version, else its file."""
    try:
        return await info.context.scheme_catalog.in_force(key, periods)
    except UnknownScheme as exc:
        detail = exc.en if info.context.locale == i18n.EN else exc.zh
        raise PublicError("UNKNOWN_SCHEME", detail, info.context.locale, field="scheme") from exc


def period_arg(info: Info, text: str, field: str = "period") -> Period:
    try:
        return parse_period(text)
    except InvalidPeriod as exc:
        detail = exc.en if info.context.locale == i18n.EN else exc.zh
        raise PublicError("INVALID_PERIOD", detail, info.context.locale, field=field) from exc
