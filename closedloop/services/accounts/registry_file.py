"""Reading an enterprise registry file: CSV with a header row, or JSON lines, each row a
credit code, a name, a region code and a contact. Columns (CSV header or JSON keys):
``credit_code``, ``name``, ``region_code``, and ``contact_name`` / ``contact_phone``, or one
``contact`` (a phone number when it reads as one, else the contact person). A row that
cannot be read at all (bad JSON, a missing column) is reported with its line; the rest are
validated by ``enterprises.import_enterprises``."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closedloop.domain.accounts import PHONE
from closedloop.services.accounts.enterprises import ImportRow, NewEnterprise

REQUIRED = ("credit_code", "name", "region_code")


class RegistryFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True, slots=True)
class Unreadable:
    line: int
    reason: str


def format_of(path: Path) -> RegistryFormat:
    return (
        RegistryFormat.JSONL
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json")
        else RegistryFormat.CSV
    )


def _row(line: int, values: Mapping[str, Any]) -> ImportRow | Unreadable:
    if not isinstance(values, Mapping):
        return Unreadable(line, "not an object")
    fields = {str(k).strip().lower(): v for k, v in values.items() if k is not None}
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        return Unreadable(line, f"missing {', '.join(missing)}")

    def text(name: str) -> str | None:
        value = fields.get(name)
        return None if value is None else str(value).strip()

    contact_name, contact_phone = text("contact_name"), text("contact_phone")
    contact = text("contact")
    if contact:
        if PHONE.fullmatch(contact) and not contact_phone:
            contact_phone = contact
        elif not contact_name:
            contact_name = contact
    return ImportRow(
        line,
        NewEnterprise(
            credit_code=text("credit_code") or "",
            name=text("name") or "",
            region_code=text("region_code") or "",
            contact_name=contact_name,
            contact_phone=contact_phone,
        ),
    )


def read_registry(text: str, fmt: RegistryFormat) -> Iterator[ImportRow | Unreadable]:
    """Each row with its line number (the header is line 1 of a CSV file)."""
    if fmt is RegistryFormat.JSONL:
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield Unreadable(number, f"not JSON: {exc.msg}")
                continue
            yield (
                _row(number, value)
                if isinstance(value, dict)
                else Unreadable(number, "not an object")
            )
        return
    reader = csv.DictReader(io.StringIO(text))
    for values in reader:
        yield _row(reader.line_num, values)
