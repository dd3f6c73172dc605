"""The API's ``DateTime``, ``Date`` and ``Decimal`` scalars: strawberry's, with the bounds of
``closedloop.domain.bounds`` checked while the value is read, so an impossible value is a
typed error on its variable or argument before any resolver runs.

Output is unchanged (``isoformat`` and ``str``, the very functions strawberry uses, so the
compiled executor still writes them inline).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode, print_ast
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import isoformat
from strawberry.types.scalar import ScalarDefinition

from closedloop.domain import bounds


class InvalidScalar(StrawberryInputCoercionError):
    """A value its scalar cannot take; graphql-core reports it on the variable or argument
    that carried it (with its path inside an input object)."""

    def __init__(
        self, type_name: str, value: object, reason: str, node: ValueNode | None = None
    ) -> None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        super().__init__(
            f"Value cannot represent a {type_name}: {shown}. {reason}",
            node,
            extensions={"code": "INVALID_ARGUMENT", "reason": reason},
        )


def _literal(
    type_name: str, parse: Callable[[object], Any]
) -> Callable[[ValueNode, dict[str, Any] | None], Any]:
    """Reads a literal as ``parse`` reads a variable's value; an error points at it."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        if not isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
            raise InvalidScalar(type_name, print_ast(node), "Expected a string.", node)
        try:
            return parse(node.value)
        except InvalidScalar as exc:
            reason = str((exc.extensions or {}).get("reason", ""))
            raise InvalidScalar(type_name, node.value, reason, node) from None

    return parse_literal


def _reader(type_name: str, read: Callable[[str], Any]) -> Callable[[object], Any]:
    def parse(value: object) -> Any:
        if not isinstance(value, str):
            raise InvalidScalar(type_name, value, "Expected a string.")
        if len(value) > bounds.SCALAR_TEXT_MAX:
            raise InvalidScalar(type_name, value, f"At most {bounds.SCALAR_TEXT_MAX} chars.")
        try:
            return read(value)
        except (ValueError, OverflowError) as exc:
            raise InvalidScalar(type_name, value, str(exc) or "Unreadable.") from None

    return parse


def _datetime(text: str) -> dt.datetime:
    return bounds.check_datetime(dt.datetime.fromisoformat(text))


def _date(text: str) -> dt.date:
    return bounds.check_date(dt.date.fromisoformat(text))


def _decimal(value: object) -> decimal.Decimal:
    try:
        return bounds.parse_decimal(value)
    except bounds.OutOfBounds as exc:
        raise InvalidScalar("Decimal", value, str(exc)) from None


DateTime = ScalarDefinition(
    name="DateTime",
    description=(
        "Date with time (ISO 8601) and a UTC offset, "
        f"years {bounds.DATETIME_MIN.year}-{bounds.DATETIME_MAX.year}"
    ),
    specified_by_url=None,
    serialize=isoformat,
    parse_value=_reader("DateTime", _datetime),
    parse_literal=_literal("DateTime", _reader("DateTime", _datetime)),
    origin=dt.datetime,
)

Date = ScalarDefinition(
    name="Date",
    description=(f"Date (ISO 8601), years {bounds.DATETIME_MIN.year}-{bounds.DATETIME_MAX.year}"),
    specified_by_url=None,
    serialize=isoformat,
    parse_value=_reader("Date", _date),
    parse_literal=_literal("Date", _reader("Date", _date)),
    origin=dt.date,
)

Decimal = ScalarDefinition(
    name="Decimal",
    description=(
        "Decimal (fixed-point, written as a string): finite, at most "
        f"{bounds.DECIMAL_INTEGER_DIGITS} digits before the point and "
        f"{bounds.DECIMAL_FRACTION_DIGITS} after it"
    ),
    specified_by_url=None,
    serialize=str,
    parse_value=_decimal,
    parse_literal=_literal("Decimal", _decimal),
    origin=decimal.Decimal,
)

SCALAR_OVERRIDES: dict[object, Any] = {
    dt.datetime: DateTime,
    dt.date: Date,
    decimal.Decimal: Decimal,
}
