"""Loading a region tree and giving every region its service center, boards and departments."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.catalog import get_catalog
from closedloop.domain.regions import (
    MAX_CHILDREN,
    MAX_DEPARTMENTS,
    RegionLevel,
    is_valid_code,
    level_of,
    parent_code,
)

LEVEL_SUFFIX = {
    RegionLevel.PROVINCE: "省",
    RegionLevel.CITY: "市",
    RegionLevel.COUNTY: "县（市、区）",
    RegionLevel.TOWN: "乡镇（街道）",
}


@dataclass(frozen=True, slots=True)
class RegionRow:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


@dataclass(slots=True)
class RegionFileReport:
    rows: list[RegionRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_region_csv(text: str) -> RegionFileReport:
    """Validate a ``code,name,level,parent_code`` file; bad lines are reported, not loaded."""
    report = RegionFileReport()
    reader = csv.DictReader(io.StringIO(text))
    expected = {"code", "name", "level", "parent_code"}
    if not reader.fieldnames or set(reader.fieldnames) != expected:
        report.errors.append((1, f"header must be {','.join(sorted(expected))}"))
        return report
    seen: set[str] = set()
    children: Counter[str] = Counter()
    for line_no, rec in enumerate(reader, start=2):
        code = (rec["code"] or "").strip()
        name = (rec["name"] or "").strip()
        parent = (rec["parent_code"] or "").strip() or None
        if not is_valid_code(code):
            report.errors.append((line_no, f"malformed region code {code!r}"))
            continue
        level = level_of(code)
        if rec["level"].strip() != level.value:
            report.errors.append((line_no, f"level {rec['level']!r} does not match code {code}"))
            continue
        if parent != parent_code(code):
            report.errors.append((line_no, f"parent {parent!r} is not the prefix parent of {code}"))
            continue
        if not name:
            report.errors.append((line_no, "name is empty"))
            continue
        if code in seen:
            report.errors.append((line_no, f"duplicate code {code}"))
            continue
        if parent is not None and parent not in seen:
            report.errors.append((line_no, f"parent {parent} is not defined before {code}"))
            continue
        if parent is not None and children[parent] >= MAX_CHILDREN:
            report.errors.append((line_no, f"{parent} has more than {MAX_CHILDREN} children"))
            continue
        if parent is not None:
            children[parent] += 1
        seen.add(code)
        report.rows.append(RegionRow(code, name, level, parent))
    return report


def default_region_file() -> str:
    return (resources.files("closedloop") / "data" / "regions_zhejiang.csv").read_text("utf-8")


async def _copy(
    conn: AsyncConnection, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=rows, columns=columns)


async def load_regions(conn: AsyncConnection, rows: list[RegionRow]) -> int:
    """Upsert a validated tree with COPY into a staging table. Returns the rows new or changed."""
    await conn.execute(
        sa.text(
            'CREATE TEMP TABLE region_stage (code text COLLATE "C", name text, level text,'
            ' parent_code text COLLATE "C") ON COMMIT DROP'
        )
    )
    await _copy(
        conn,
        "region_stage",
        ["code", "name", "level", "parent_code"],
        [(r.code, r.name, r.level.value, r.parent_code) for r in rows],
    )
    # Parents sort before children (shorter prefix), so one ordered insert satisfies the FK.
    result = await conn.execute(
        sa.text(
            "INSERT INTO region (code, name, level, parent_code)"
            " SELECT code, name, level, parent_code FROM region_stage ORDER BY length(code), code"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name"
            " WHERE region.name IS DISTINCT FROM excluded.name"
        )
    )
    await ensure_service_centers(conn)
    return int(result.rowcount or 0)


async def ensure_service_centers(conn: AsyncConnection) -> None:
    """Every region gets its center, the catalog's boards and the 16 key departments."""
    catalog = get_catalog()
    await conn.execute(
        sa.text(
            "INSERT INTO center (region_code, name)"
            " SELECT code, name || '企业综合服务中心' FROM region"
            " ON CONFLICT (region_code) DO NOTHING"
        )
    )
    boards = [(b.key, b.zh, b.en, b.lead) for b in catalog.boards]
    departments = [(d.key, d.zh, d.en) for d in catalog.departments]
    await conn.execute(
        sa.text(
            "INSERT INTO board (region_code, key, name_zh, name_en, lead_department_key)"
            " SELECT r.code, b.key, b.zh, b.en, b.lead FROM region r"
            " CROSS JOIN unnest(CAST(:keys AS text[]), CAST(:zh AS text[]), CAST(:en AS text[]),"
            " CAST(:lead AS text[])) AS b(key, zh, en, lead)"
            " ON CONFLICT (region_code, key) DO NOTHING"
        ),
        {
            "keys": [b[0] for b in boards],
            "zh": [b[1] for b in boards],
            "en": [b[2] for b in boards],
            "lead": [b[3] for b in boards],
        },
    )
    await conn.execute(
        sa.text(
            "INSERT INTO department (region_code, key, name_zh, name_en, is_key)"
            " SELECT r.code, d.key, d.zh, d.en, true FROM region r"
            " CROSS JOIN unnest(CAST(:keys AS text[]), CAST(:zh AS text[]), CAST(:en AS text[]))"
            " AS d(key, zh, en)"
            " ON CONFLICT (region_code, key) DO NOTHING"
        ),
        {
            "keys": [d[0] for d in departments],
            "zh": [d[1] for d in departments],
            "en": [d[2] for d in departments],
        },
    )


async def load_region_file(conn: AsyncConnection, text: str | None) -> RegionFileReport:
    """Load a region CSV's text (default: the shipped Zhejiang tree)."""
    report = parse_region_csv(text if text is not None else default_region_file())
    if report.rows:
        await load_regions(conn, report.rows)
    return report


async def add_department(
    conn: AsyncConnection, region_code: str, key: str, zh: str, en: str, subtree: bool
) -> int:
    """Add one of the "+N" departments (not scored) to a region, or to its whole subtree."""
    where = "code = :region" if not subtree else "code >= :region AND code < :upper"
    result = await conn.execute(
        sa.text(
            "INSERT INTO department (region_code, key, name_zh, name_en, is_key)"
            f" SELECT code, :key, :zh, :en, false FROM region WHERE {where}"
            " AND (SELECT count(*) FROM department d WHERE d.region_code = region.code) < :most"
            " ON CONFLICT (region_code, key) DO NOTHING"
        ),
        {
            "region": region_code,
            "upper": region_code + "~",
            "key": key,
            "zh": zh,
            "en": en,
            "most": MAX_DEPARTMENTS,
        },
    )
    return int(result.rowcount or 0)
