"""Reading and checking an import file's records: the formats (CSV, JSON lines), the report
and its row errors, and the first look at one record (shape, credit code, category, tags,
time) before anything is asked of the database."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import enum
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from closedloop.domain.bounds import EXTERNAL_ID_MAX, NAME_MAX, TAG_MAX, TAGS_MAX, TEXT_MAX
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.domain.issues import Category
from closedloop.domain.regions import is_valid_code
from closedloop.services.issues import commands

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
BATCH = 2000  # records checked against the database at once
# Records submitted in one unit of work: each batch pays a dozen statements, a savepoint and
# a commit whatever its size (``event_bus.publish`` splits its ids over notifications).
LOAD_BATCH = 2000
# Batches written at once, of records numbered in different regions (``importer.streams``):
# one writes while the other's statements are being prepared, or both on a 2-core machine.
STREAMS = 2
REQUIRED_COLUMNS = ("record_id", "credit_code", "title", "content")
KNOWN_COLUMNS = (
    "record_id",
    "credit_code",
    "enterprise_name",
    "region_code",
    "title",
    "content",
    "category",
    "tags",
    "received_at",
)
_TAG_SEPARATORS = re.compile(r"[;|；｜]")
# Command error fields (GraphQL names) -> the file's column names.
COLUMN_OF = {
    "creditCode": "credit_code",
    "enterpriseName": "enterprise_name",
    "enterpriseRegion": "region_code",
    "externalId": "record_id",
}


class ImportFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class ImportRefused(Exception):
    """The import cannot start at all (unknown account, no permission, unknown format)."""


class RowError(NamedTuple):
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    imported: int = 0
    skipped_existing: int = 0
    errors: list[RowError] = field(default_factory=list)
    records: int = 0  # records read (blank lines aside)

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors


def detect_format(path: Path) -> ImportFormat:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ImportFormat.CSV
    if suffix in (".jsonl", ".ndjson"):
        return ImportFormat.JSONL
    raise ImportRefused(
        f"cannot tell the format of {path.name} from its extension; give csv or jsonl"
    )


# --- reading -------------------------------------------------------------------------


class ImportFileError(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


Record = tuple[int, dict[str, Any] | RowError]


def _text_lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's lines, decoded one by one so that a decoding error names its line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    with path.open("rb") as handle:
        try:
            for number, raw in enumerate(handle, 1):  # noqa: B007 (reported below)
                yield decoder.decode(raw)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            reason = f"not {encoding} text ({exc.reason}); give the file's encoding"
            raise ImportFileError(RowError(max(number, 1), "file", reason)) from exc


def csv_records(path: Path, encoding: str) -> Iterator[Record]:
    reader = csv.reader(_text_lines(path, encoding))
    line = 1
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError(RowError(1, "file", "empty file; expected a header row"))
        names = [h.strip().lower() for h in header]
        for name in REQUIRED_COLUMNS:
            if name not in names:
                raise ImportFileError(RowError(1, name, "missing column"))
        for name in KNOWN_COLUMNS:
            if names.count(name) > 1:
                raise ImportFileError(RowError(1, name, "column appears twice"))
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(names):
                yield start, RowError(start, "file", f"{len(cells)} cells but {len(names)} columns")
                continue
            yield start, dict(zip(names, cells, strict=False))
    except csv.Error as exc:
        raise ImportFileError(RowError(line, "file", f"unreadable CSV: {exc}")) from exc


def jsonl_records(path: Path, encoding: str) -> Iterator[Record]:
    for number, text in enumerate(_text_lines(path, encoding), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RowError(number, "file", f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(number, "file", "expected a JSON object")
            continue
        yield number, {str(k).lower(): v for k, v in obj.items()}


# --- checking one record -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordRow:
    line: int
    record_id: str
    credit_code: str
    enterprise_name: str | None
    region_code: str | None
    title: str
    content: str
    category: Category | None
    tags: list[str]
    received_at: dt.datetime | None


@dataclass(slots=True)
class Parsed:
    record_id: str | None
    row: RecordRow | None
    errors: list[RowError]


class _Fields:
    """Reads typed values out of one record, collecting errors by field."""

    def __init__(self, line: int, record: dict[str, Any]) -> None:
        self.line = line
        self.record = record
        self.errors: list[RowError] = []

    def fail(self, name: str, reason: str) -> None:
        self.errors.append(RowError(self.line, name, reason))

    def text(self, name: str, limit: int, *, required: bool = False) -> str | None:
        value = self.record.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            self.fail(name, "expected a string")
            return None
        text = (value or "").strip()
        if not text:
            if required:
                self.fail(name, "required")
            return None
        if len(text) > limit:
            self.fail(name, f"longer than {limit} characters")
            return None
        return text

    def tags(self, separated: bool) -> list[str]:
        value = self.record.get("tags")
        if value is None or value == "":
            return []
        if isinstance(value, str) and separated:
            items: list[Any] = _TAG_SEPARATORS.split(value)
        elif isinstance(value, list) and not separated:
            items = value
        else:
            self.fail("tags", "expected a list of strings")
            return []
        out: list[str] = []
        for item in items:
            if not isinstance(item, str):
                self.fail("tags", "expected a list of strings")
                return []
            tag = item.strip()
            if len(tag) > TAG_MAX:
                self.fail("tags", f"tag longer than {TAG_MAX} characters: {tag[:20]}…")
                return []
            if tag and tag not in out:
                out.append(tag)
        if len(out) > TAGS_MAX:
            self.fail("tags", f"more than {TAGS_MAX} tags")
            return []
        return out


def parse_record(
    line: int, record: dict[str, Any] | RowError, now: dt.datetime, separated_tags: bool
) -> Parsed:
    if isinstance(record, RowError):
        return Parsed(None, None, [record])
    f = _Fields(line, record)
    record_id = f.text("record_id", EXTERNAL_ID_MAX, required=True)
    raw_code = f.text("credit_code", 40, required=True)
    code = None
    if raw_code is not None:
        try:
            code = normalize_credit_code(raw_code)
        except InvalidCreditCode as exc:
            f.fail("credit_code", f"invalid unified social credit code {raw_code}: {exc.reason}")
    name = f.text("enterprise_name", NAME_MAX)
    region = f.text("region_code", 12)
    if region is not None and not is_valid_code(region):
        f.fail("region_code", f"malformed region code {region}")
    title = f.text("title", commands.TITLE_MAX, required=True)
    content = f.text("content", TEXT_MAX, required=True)
    category = None
    category_key = f.text("category", 40)
    if category_key is not None:
        try:
            category = Category(category_key.upper())
        except ValueError:
            keys = ", ".join(c.value for c in Category)
            f.fail("category", f"unknown category {category_key} (one of {keys})")
    tags = f.tags(separated_tags)
    received_at = None
    received = f.text("received_at", 40)
    if received is not None:
        try:
            received_at = dt.datetime.fromisoformat(received)
        except ValueError:
            f.fail("received_at", f"not an ISO 8601 date-time: {received}")
        else:
            if received_at.tzinfo is None:
                received_at = received_at.replace(tzinfo=BEIJING)
            if received_at > now:
                f.fail("received_at", f"in the future: {received}")
    if f.errors or record_id is None or code is None or title is None or content is None:
        return Parsed(record_id, None, f.errors)
    row = RecordRow(
        line, record_id, code, name, region, title, content, category, tags, received_at
    )
    return Parsed(record_id, row, [])
