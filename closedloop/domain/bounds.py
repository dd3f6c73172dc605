"""The bounds of every value a client may send, defined once.

Inputs outside them cannot be valid: they are refused with a typed error naming the field
before any statement runs (``closedloop.schema.scalars`` for dates, times and decimals,
``closedloop.schema.inputs`` for strings, ids and lists, ``closedloop.schema.relay`` for
global ids and cursors). Services that read client-made values back out of opaque
strings (cursors) use the same checks.
"""

from __future__ import annotations

import datetime as dt
import decimal

from closedloop.domain.periods import MAX_YEAR, MIN_YEAR

# Text: the issue content cap is the longest text the API takes anywhere; no string
# argument may be longer. Search text is far shorter: the text filter's cost grows with
# its length times the issues in scope.
TEXT_MAX = 10_000
SEARCH_TEXT_MAX = 200
NAME_MAX = 200
TAG_MAX = 50
TAGS_MAX = 20  # tags on one issue
# A channel's own record id (an issue's external id), from an import file or a push.
EXTERNAL_ID_MAX = 100
# Any list argument (ids, tags, states, checks, duplicates).
LIST_MAX = 100

# Decimals: enough for money in yuan (up to 10^15) and for rates and points with up to
# 12 places; a value beyond them is a typo or an attack (``1e999999999`` made ``Fraction``
# build a billion-digit integer).
DECIMAL_INTEGER_DIGITS = 15
DECIMAL_FRACTION_DIGITS = 12
SCALAR_TEXT_MAX = 64

DATETIME_MIN = dt.datetime(MIN_YEAR, 1, 1, tzinfo=dt.UTC)
DATETIME_MAX = dt.datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)


class OutOfBounds(ValueError):
    """A value that cannot be valid; the message says which bound it breaks."""


def int_key(text: str, bits: int = 64) -> int | None:
    """A positive integer key written in ASCII digits that fits a signed ``bits``-bit
    column, else ``None`` (``str.isdigit`` also takes full-width and other digits)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value < 1 << (bits - 1) else None


def check_datetime(value: dt.datetime) -> dt.datetime:
    """An aware datetime between ``MIN_YEAR`` and ``MAX_YEAR`` (in UTC as well: 9999-12-31
    at -23:59 does not exist in UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise OutOfBounds("a UTC offset is required, e.g. 2026-03-01T09:00:00+08:00")
    try:
        in_utc = value.astimezone(dt.UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not DATETIME_MIN <= in_utc <= DATETIME_MAX:
        raise OutOfBounds(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}")
    return value


def check_date(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise OutOfBounds(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}")
    return value


def parse_decimal(raw: object) -> decimal.Decimal:
    """A finite decimal within the digit bounds, checked on its digits and exponent before
    any arithmetic (the check itself is constant time)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | decimal.Decimal):
        raise OutOfBounds("expected a decimal number written as a string")
    text = raw if isinstance(raw, str) else str(raw)
    if len(text) > SCALAR_TEXT_MAX:
        raise OutOfBounds(f"at most {SCALAR_TEXT_MAX} characters")
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise OutOfBounds("not a decimal number") from None
    if not value.is_finite():
        raise OutOfBounds("must be a finite number (not NaN or Infinity)")
    digits, exponent = value.as_tuple()[1:]
    assert isinstance(exponent, int)  # finite
    # Trailing zeros (1.500000000000000) are not precision.
    zeros = _trailing_zeros(digits)
    places = max(0, -exponent - zeros)
    if places > DECIMAL_FRACTION_DIGITS:
        raise OutOfBounds(f"at most {DECIMAL_FRACTION_DIGITS} decimal places")
    if any(digits) and len(digits) + exponent > DECIMAL_INTEGER_DIGITS:
        raise OutOfBounds(f"at most {DECIMAL_INTEGER_DIGITS} digits before the point")
    return value


def _trailing_zeros(digits: tuple[int, ...]) -> int:
    count = 0
    for digit in reversed(digits):
        if digit:
            break
        count += 1
    return count
