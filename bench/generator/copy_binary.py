"""Generated rows to PostgreSQL's binary COPY format, where they were built.

The builder processes hand the COPY data to the loading process as bytes: pickling rows of
datetimes and text out of a builder and back in the loader cost more than building the
rows' COPY data here (about 1.4 s against 0.3 s per 20,000 issues), and the loader is left
with sending bytes. The values are the ones asyncpg's ``copy_records_to_table`` would
send: the stored rows do not change.

An encoder is compiled per target table from its columns' types (as ``namedtuple`` and
``dataclasses`` compile their methods): one loop over the rows with every column's
encoding written out, no call per value. The format: a header, per row the number of
fields and each field as its length (-1: NULL) and bytes, a trailer
(https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
ONE_MICROSECOND = dt.timedelta(microseconds=1)
TEXT_OID = 25

_LEN = struct.Struct("!i").pack
_INT4 = struct.Struct("!ii").pack  # length 4, value
_INT8 = struct.Struct("!iq").pack  # length 8, value
_ARRAY = struct.Struct("!iiiii").pack  # ndim 1, no NULLs, element type, size, lower bound
_EMPTY_TEXT_ARRAY = _LEN(12) + struct.pack("!iii", 0, 0, TEXT_OID)

Encoder = Callable[[Iterable[Sequence[Any]]], bytes]


def text_array(values: Sequence[str]) -> bytes:
    """A ``text[]`` field (length included) of non-NULL elements."""
    if not values:
        return _EMPTY_TEXT_ARRAY
    parts = [_ARRAY(1, 0, TEXT_OID, len(values), 1)]
    for value in values:
        data = value.encode()
        parts.append(_LEN(len(data)))
        parts.append(data)
    body = b"".join(parts)
    return _LEN(len(body)) + body


# The statement that appends column value ``{v}`` to bytearray ``out``, by PostgreSQL type.
# Each is one line, so that a NULL check can be put in front of it.
_FIELD = {
    "int4": "out += INT4(4, {v})",
    "int8": "out += INT8(8, {v})",
    "bool": "out += TRUE if {v} else FALSE",
    "timestamptz": "out += INT8(8, ({v} - PG_EPOCH) // US)",
    "text": "b = {v}.encode(); out += LEN(len(b)); out += b",
    "jsonb": "b = {v}.encode(); out += LEN(len(b) + 1); out += b'\\x01'; out += b",
    "_text": "out += text_array({v})",
}
_NAMESPACE: dict[str, Any] = {
    "INT4": _INT4,
    "INT8": _INT8,
    "LEN": _LEN,
    "NULL": _LEN(-1),
    "TRUE": _LEN(1) + b"\x01",
    "FALSE": _LEN(1) + b"\x00",
    "PG_EPOCH": PG_EPOCH,
    "US": ONE_MICROSECOND,
    "HEADER": HEADER,
    "TRAILER": TRAILER,
    "text_array": text_array,
}


def encoder(width: int, columns: Sequence[tuple[int, str]]) -> Encoder:
    """The encoder of rows of ``width`` values, of which ``columns`` are written: (position
    in the row, PostgreSQL type name) in the table's COPY column order. A value of a type
    not listed here raises ``ValueError`` now, not at the first row."""
    names = [f"c{i}" for i in range(width)]
    lines = [
        "def encode(rows):",
        "    out = bytearray(HEADER)",
        f"    for {', '.join(names)}, in rows:",
        f"        out += {struct.pack('!h', len(columns))!r}",
    ]
    for position, type_name in columns:
        if type_name not in _FIELD:
            raise ValueError(f"no binary COPY encoding for PostgreSQL type {type_name!r}")
        value = names[position]
        lines.append(f"        if {value} is None: out += NULL")
        lines.append(f"        else: {_FIELD[type_name].format(v=value)}")
    lines += ["    out += TRAILER", "    return bytes(out)"]
    namespace: dict[str, Any] = dict(_NAMESPACE)
    exec("\n".join(lines), namespace)
    encode: Encoder = namespace["encode"]
    return encode
