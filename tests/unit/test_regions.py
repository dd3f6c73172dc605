from __future__ import annotations

import pytest
import sqlalchemy as sa

from closedloop.db.database import Database
from closedloop.domain.regions import (
    InvalidRegionCode,
    RegionLevel,
    Relation,
    ancestors,
    level_of,
    parent_code,
    relation,
    subtree_upper_bound,
)
from closedloop.tenancy.seed import add_department, default_region_file, parse_region_csv


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("33", RegionLevel.PROVINCE, None),
        ("3305", RegionLevel.CITY, "33"),
        ("330521", RegionLevel.COUNTY, "3305"),
        ("330521102", RegionLevel.TOWN, "330521"),
    ],
)
def test_levels_and_parents(code: str, level: RegionLevel, parent: str | None) -> None:
    assert level_of(code) is level
    assert parent_code(code) == parent


@pytest.mark.parametrize("bad", ["", "3", "330", "33052", "3305211", "33a5", "3305211020", " 33"])
def test_malformed_codes(bad: str) -> None:
    with pytest.raises(InvalidRegionCode):
        level_of(bad)


def test_ancestors_go_up_to_the_province() -> None:
    assert ancestors("330521102") == ["330521", "3305", "33"]


def test_relations() -> None:
    assert relation("3305", "3305") is Relation.SELF
    assert relation("3305", "330521102") is Relation.DESCENDANT
    assert relation("330521", "33") is Relation.ANCESTOR
    assert relation("330521", "330522") is Relation.UNRELATED


def test_subtree_bound_sorts_after_every_child_in_c_collation() -> None:
    bound = subtree_upper_bound("3305")
    assert all(c.encode() < bound.encode() for c in ("3305", "330599999", "3305991"))
    assert bound.encode() < b"3306"


def test_shipped_zhejiang_tree_is_valid() -> None:
    report = parse_region_csv(default_region_file())
    assert report.errors == []
    levels = [r.level for r in report.rows]
    assert (levels.count(RegionLevel.PROVINCE), levels.count(RegionLevel.CITY)) == (1, 11)
    assert levels.count(RegionLevel.COUNTY) == 90
    assert levels.count(RegionLevel.TOWN) == 1387


def test_bad_region_rows_are_reported_with_line_and_reason() -> None:
    text = (
        "code,name,level,parent_code\n33,浙江省,PROVINCE,\n3305,湖州市,CITY,33\n"
        "33x5,坏,CITY,33\n330521,德清县,TOWN,3305\n330599,孤儿,COUNTY,3399\n3305,重复,CITY,33\n"
    )
    report = parse_region_csv(text)
    assert [r.code for r in report.rows] == ["33", "3305"]
    assert [line for line, _ in report.errors] == [4, 5, 6, 7]
    assert "malformed" in report.errors[0][1]
    assert "duplicate" in report.errors[3][1]


async def test_plus_n_departments_can_be_added(db: Database) -> None:
    async with db.admin.begin() as conn:
        added = await add_department(conn, "330521", "EDUCATION", "教育", "Education", True)
        assert added == 1 + 13  # the county and its towns
        again = await add_department(conn, "330521", "EDUCATION", "教育", "Education", True)
        assert again == 0
        rows = (
            await conn.execute(
                sa.text("SELECT is_key FROM department WHERE key = 'EDUCATION' LIMIT 1")
            )
        ).scalar_one()
        assert rows is False
        await conn.rollback()


def test_region_codes_are_ascii_digits_only() -> None:
    from closedloop.domain.regions import is_valid_code

    assert is_valid_code("330521102")
    for code in ("３３", "٣٣", "33\n", "3305\n", " 33", "33 ", "3", "330", "3305211020"):
        assert not is_valid_code(code), repr(code)
