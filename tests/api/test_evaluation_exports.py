"""Scores and dashboards as CSV and XLSX over authenticated HTTP, with the same scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from tests.api.evaluation_helpers import (
    bj,
    clean_evaluation,  # noqa: F401  (fixture)
    insert_issues,
    list_entry,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

SCORES = "/export/scores.{fmt}?scheme=HUZHOU_2024&targetKind=REGION&region=3305&period=2026-Q1"
DASHBOARD = "/export/dashboard.{fmt}?region=3305&period=2026-Q1"


async def get(api: Api, url: str, as_: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.token(as_)}"} if as_ else {}
    return await api.client.get(url, headers=headers)


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())  # a BOM, for spreadsheet programs
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def _data(api: Api, db: Database, clock: FrozenClock) -> None:
    clock.set(bj(2026, 3, 20))
    await insert_issues(
        db,
        [
            {"state": "CLOSED", "rating": "SATISFIED", "tags": ["用工"]},
            {"state": "IN_PROGRESS", "origin_region_code": "330522001", "tags": ["用地"]},
        ],
    )
    await list_entry(
        api,
        "huzhou.evaluator",
        kind="BLACK",
        targetKind="REGION",
        regionCode="330522",
        reason="办理进展缓慢",
        listedOn="2026-03-01",
    )


async def test_scores_as_csv_and_xlsx(api: Api, db: Database, clock: FrozenClock) -> None:
    await _data(api, db, clock)
    response = await get(api, SCORES.format(fmt="csv"), "huzhou.evaluator")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["x-data-source"] == "primary"  # no replica configured
    rows = read_csv(response)
    # The scores, then after a blank line the notes on where the figures were read.
    end = rows.index([])
    header, body = rows[0], rows[1:end]
    assert rows[end + 1 : end + 4] == [
        ["数据说明"],
        ["项目", "内容"],
        ["数据来源", "主库（primary）"],
    ]
    assert rows[end + 4][0] == "数据截至"
    as_of = dt.datetime.fromisoformat(response.headers["x-data-as-of"])
    assert dt.datetime.fromisoformat(rows[end + 4][1]) == as_of.replace(microsecond=0)
    assert as_of == clock.now()  # on the primary: the moment of the export
    assert header[:6] == ["排名", "对象类型", "代码", "名称", "总分", "指标得分小计"]
    assert "红榜（次）" in header and "主动发现率·得分" in header and "问题总数" in header
    assert len(body) == 5
    by_code = {r[2]: dict(zip(header, r, strict=True)) for r in body}
    deqing = by_code["330521"]
    assert deqing["名称"] == "德清县" and deqing["对象类型"] == "地区"
    assert deqing["问题总数"] == "1" and deqing["问题办结率·比率（%）"] == "100.00"
    # 长兴: nothing resolved (0 %, 15 − 10 = 5), one black entry
    changxing = by_code["330522"]
    assert changxing["黑榜（次）"] == "1" and Decimal(changxing["问题办结率·得分"]) == 5
    assert changxing["万家民企评部门（基层评价、第三方评价）·状态"] == "待录入"

    xlsx = await get(api, SCORES.format(fmt="xlsx"), "huzhou.evaluator")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = book["评价结果"]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:4] == ["排名", "对象类型", "代码", "名称"]
    assert len(values) == 6 and {r[2] for r in values[1:]} == set(by_code)
    book.close()


async def test_dashboard_as_csv_and_xlsx(api: Api, db: Database, clock: FrozenClock) -> None:
    await _data(api, db, clock)
    response = await get(api, DASHBOARD.format(fmt="csv"), "huzhou.center")
    assert response.status_code == 200, response.text
    rows = read_csv(response)
    header = rows[0]
    assert header[:5] == ["分组", "代码", "名称", "问题总数", "主动发现"]
    assert "办结率（%）" in header and "红灯" in header
    table = {(r[0], r[1]): r for r in rows[1:] if len(r) == len(header)}
    assert table[("合计", "3305")][3] == "2"
    assert table[("下级地区", "330521")][3] == "1" and table[("下级地区", "330522")][3] == "1"
    assert table[("承办层级", "COUNTY")][2] == "县（市、区）"
    assert table[("热点标签", "用工")][3] == "1"
    assert table[("状态", "CLOSED")][2] == "已关闭"
    # The red and black lists follow the figures.
    assert ["红黑榜"] in rows
    assert any(r[:2] == ["黑榜", "地区"] and "办理进展缓慢" in r for r in rows)

    xlsx = await get(api, DASHBOARD.format(fmt="xlsx"), "huzhou.center")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert book.sheetnames == ["驾驶舱", "红黑榜", "数据说明"]
    lists = [list(r) for r in book["红黑榜"].iter_rows(values_only=True)]
    assert lists[0][0] == "榜单" and lists[1][3] == "长兴县"
    book.close()


async def test_exports_answer_out_of_scope_like_unknown(api: Api, db: Database) -> None:
    for url in (SCORES, DASHBOARD):
        assert (await get(api, url.format(fmt="csv"), None)).status_code == 404
        assert (await get(api, url.format(fmt="csv"), "deqing.center")).status_code == 404
        assert (await get(api, url.format(fmt="xlsx"), "ent.deqing-geo")).status_code == 404
        assert (await get(api, url.format(fmt="pdf"), "huzhou.center")).status_code == 404
        unknown = url.format(fmt="csv").replace("region=3305", "region=3399")
        assert (await get(api, unknown, "province.monitor")).status_code == 404
        bad_token = await api.client.get(
            url.format(fmt="csv"), headers={"Authorization": "Bearer not-a-token"}
        )
        assert bad_token.status_code == 401
    bad_period = await get(
        api, DASHBOARD.format(fmt="csv").replace("2026-Q1", "2026-Q9"), "huzhou.center"
    )
    assert bad_period.status_code == 400
    assert bad_period.json()["error"]["code"] == "INVALID_PERIOD"
    bad_scheme = await get(
        api, SCORES.format(fmt="csv").replace("HUZHOU_2024", "NOPE"), "huzhou.center"
    )
    assert bad_scheme.status_code == 400 and bad_scheme.json()["error"]["code"] == "UNKNOWN_SCHEME"
    bad_kind = await get(api, SCORES.format(fmt="csv").replace("REGION", "TOWN"), "huzhou.center")
    assert bad_kind.status_code == 400 and bad_kind.json()["error"]["field"] == "targetKind"
