"""Importing a channel's records (a 12345 hotline export) from the command line."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from closedloop.cli.importing import import_app
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.domain.issues import Channel
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.services.issues.import_records import ImportFormat, ImportRefused, ImportReport
from closedloop.services.issues.importer import import_issues
from closedloop.settings import Settings
from tests.api.engine_events import statements
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

GEO = credit_code(DEMO_ENTERPRISES[0].base17)  # 德清地信科技, 330521001
SILK = credit_code(DEMO_ENTERPRISES[1].base17)  # 新市丝绸织造, 330521102
CHANGXING = credit_code(DEMO_ENTERPRISES[2].base17)  # 长兴 (another county)
BAD_CHECK = GEO[:-1] + ("0" if GEO[-1] != "0" else "1")
MINSU = credit_code("91330521MA2JX8Q7K")  # new: 德清莫干山民宿管理有限公司
UNKNOWN = credit_code("91330521MA2D7R5T8")  # not registered, no name given

HEADER = [
    "record_id",
    "credit_code",
    "enterprise_name",
    "region_code",
    "title",
    "content",
    "category",
    "tags",
    "received_at",
]

# A 12345 hotline export; the comment is the line each record starts on.
HOTLINE_ROWS = [
    # line 2
    [
        "12345-20260226-0001",
        GEO,
        "",
        "",
        "厂区门口道路破损影响货车通行",
        "武康街道某路段路面塌陷已两周，重型货车无法进出厂区，影响正常发货，请求尽快修复。",
        "COMPLAINT",
        "交通;基础设施",
        "2026-02-26T09:15:00+08:00",
    ],
    # line 3 (two lines: the content holds a line break)
    [
        "12345-20260226-0002",
        SILK,
        "",
        "",
        "扩产后招工难，请求对接用工服务",
        "企业新上两条织造线，缺少熟练挡车工约30人。\n希望镇里协助组织专场招聘。",
        "SERVICE_REQUEST",
        "人才|招工",
        "2026-02-26 10:02:31",
    ],
    # line 5: a credit code with a wrong check character
    [
        "12345-20260226-0003",
        BAD_CHECK,
        "",
        "",
        "咨询高新技术企业认定材料",
        "想了解高新技术企业认定需要准备哪些材料。",
        "CONSULTATION",
        "",
        "",
    ],
    # line 6: no title
    [
        "12345-20260227-0004",
        GEO,
        "",
        "",
        "",
        "园区夜间照明不足，员工下班出行不安全。",
        "",
        "",
        "",
    ],
    # line 7: not a category
    [
        "12345-20260227-0005",
        SILK,
        "",
        "",
        "蚕茧收购价格信息不透明",
        "希望发布本年度蚕茧收购指导价格。",
        "紧急",
        "",
        "",
    ],
    # line 8: an enterprise of 长兴县, outside 德清's scope
    [
        "12345-20260227-0006",
        CHANGXING,
        "",
        "",
        "电池项目环评审批进度咨询",
        "项目环评材料已提交一个月，想了解审批进度。",
        "CONSULTATION",
        "",
        "",
    ],
    # line 9: the same hotline ticket exported twice
    [
        "12345-20260226-0001",
        GEO,
        "",
        "",
        "厂区门口道路破损影响货车通行",
        "重复导出的工单。",
        "COMPLAINT",
        "",
        "",
    ],
    # line 10: a new enterprise, registered by its name and region
    [
        "12345-20260228-0007",
        MINSU,
        "德清莫干山民宿管理有限公司",
        "330521115",
        "民宿消防审验流程咨询",
        "新开民宿需要办理消防审验，想了解办理流程和所需时间。",
        "CONSULTATION",
        "民宿；消防审验",
        "2026-02-28T14:40:00+08:00",
    ],
    # line 11: only the required fields
    [
        "12345-20260301-0008",
        GEO,
        "",
        "",
        "申请人才公寓",
        "新引进的三名研发人员申请入住人才公寓。",
        "",
        "",
        "",
    ],
    # line 12: the new enterprise again, now known from line 10
    [
        "12345-20260301-0009",
        MINSU,
        "",
        "",
        "民宿污水纳管申请",
        "民宿位于莫干山镇，申请生活污水纳入市政管网。",
        "SERVICE_REQUEST",
        "",
        "",
    ],
    # line 13: an unknown enterprise without name and region
    [
        "12345-20260301-0010",
        UNKNOWN,
        "",
        "",
        "咨询厂房租赁补贴",
        "想了解小微企业厂房租赁补贴政策。",
        "CONSULTATION",
        "",
        "",
    ],
]

EXPECTED_ERRORS = [
    (5, "credit_code", "invalid unified social credit code"),
    (6, "title", "required"),
    (7, "category", "unknown category 紧急"),
    (8, "credit_code", "enterprise not found in the scope of deqing.center (330521)"),
    (9, "record_id", "duplicate record_id 12345-20260226-0001 (first on line 2)"),
    (13, "enterprise_name", "a new enterprise needs enterprise_name and region_code"),
]

HOTLINE_QUERY = """{ issues(filter: {channel: HOTLINE_12345}, orderBy: CREATED_AT_ASC) {
  totalCount nodes { title content state category tags createdAt channel
  enterprise { name creditCode } originRegion { code } holdingRegion { code } } } }"""


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)  # \r\n line ends, like the export of the hotline system
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


async def run_import(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    path: Path,
    channel: Channel = Channel.HOTLINE_12345,
    username: str = "deqing.center",
    fmt: ImportFormat | None = None,
) -> ImportReport:
    return await import_issues(
        db, clock, settings, channel=channel, path=path, username=username, fmt=fmt
    )


async def count_enterprises(conn: AsyncConnection) -> int:
    return int(
        (await conn.execute(sa.select(sa.func.count()).select_from(t.enterprise))).scalar_one()
    )


def assert_errors(report: ImportReport, expected: list[tuple[int, str, str]]) -> None:
    got = [(e.line, e.field) for e in report.errors]
    assert got == [(line, field) for line, field, _ in expected], report.errors
    for error, (_, _, reason) in zip(report.errors, expected, strict=True):
        assert reason in error.reason, error


async def test_hotline_csv_is_validated_then_imported_once(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "12345_export_202602.csv", HOTLINE_ROWS)

    report = await run_import(db, clock, settings, path)
    assert_errors(report, EXPECTED_ERRORS)
    assert (report.records, report.imported, report.skipped_existing) == (11, 5, 0)
    assert report.bad_lines == [5, 6, 7, 8, 9, 13]

    data = await api.gql(HOTLINE_QUERY, as_="deqing.center")
    issues = data["issues"]
    assert issues["totalCount"] == 5
    by_title = {n["title"]: n for n in issues["nodes"]}
    assert set(by_title) == {
        "厂区门口道路破损影响货车通行",
        "扩产后招工难，请求对接用工服务",
        "民宿消防审验流程咨询",
        "申请人才公寓",
        "民宿污水纳管申请",
    }
    road = by_title["厂区门口道路破损影响货车通行"]
    assert (road["state"], road["channel"], road["category"]) == (
        "SUBMITTED",
        "HOTLINE_12345",
        "COMPLAINT",
    )
    assert road["tags"] == ["交通", "基础设施"]
    assert road["enterprise"] == {"name": "德清地信科技有限公司", "creditCode": GEO}
    assert road["holdingRegion"] == {"code": "330521"}
    # received_at is the submission time; without an offset it is Beijing time.
    assert dt.datetime.fromisoformat(road["createdAt"]) == dt.datetime(
        2026, 2, 26, 1, 15, tzinfo=dt.UTC
    )
    hiring = by_title["扩产后招工难，请求对接用工服务"]
    assert hiring["content"].endswith("\n希望镇里协助组织专场招聘。")
    assert hiring["tags"] == ["人才", "招工"]
    assert dt.datetime.fromisoformat(hiring["createdAt"]) == dt.datetime(
        2026, 2, 26, 2, 2, 31, tzinfo=dt.UTC
    )
    minsu = by_title["民宿消防审验流程咨询"]
    assert minsu["enterprise"] == {"name": "德清莫干山民宿管理有限公司", "creditCode": MINSU}
    assert minsu["originRegion"] == {"code": "330521115"}
    assert minsu["tags"] == ["民宿", "消防审验"]
    assert by_title["民宿污水纳管申请"]["enterprise"]["creditCode"] == MINSU
    talent = by_title["申请人才公寓"]
    assert (talent["category"], talent["tags"]) == (None, [])
    assert dt.datetime.fromisoformat(talent["createdAt"]) == clock.now()

    # The enterprise outside the scope stays invisible and untouched; 长兴 sees nothing.
    other = await api.gql(HOTLINE_QUERY, as_="changxing.center")
    assert other["issues"]["totalCount"] == 0

    async with db.admin.connect() as conn:
        external_ids = set(
            (
                await conn.execute(
                    sa.select(t.issue.c.external_id).where(t.issue.c.channel == "HOTLINE_12345")
                )
            ).scalars()
        )
        enterprises = await count_enterprises(conn)
    assert external_ids == {
        "12345-20260226-0001",
        "12345-20260226-0002",
        "12345-20260228-0007",
        "12345-20260301-0008",
        "12345-20260301-0009",
    }

    # Again: nothing new, nothing lost, the same bad lines.
    clock.advance(dt.timedelta(hours=1))
    again = await run_import(db, clock, settings, path)
    assert (again.records, again.imported, again.skipped_existing) == (11, 0, 5)
    assert again.errors == report.errors
    data = await api.gql(HOTLINE_QUERY, as_="deqing.center")
    assert data["issues"]["totalCount"] == 5
    assert data["issues"]["nodes"] == issues["nodes"]
    async with db.admin.connect() as conn:
        assert await count_enterprises(conn) == enterprises


async def test_jsonl_records(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "营商环境投诉_0302.jsonl",
        [
            {
                "record_id": 88001,
                "credit_code": SILK,
                "title": "用电增容审批时间过长",
                "content": "新增织机需要用电增容，申请已递交20天仍未批复。",
                "category": "appeal",
                "tags": ["用电", "增容"],
                "received_at": "2026-02-20T08:00:00Z",
            },
            {
                "record_id": "88002",
                "credit_code": GEO,
                "title": "测绘资质延续办理",
                "content": "测绘资质即将到期，咨询延续办理渠道。",
                "tags": "测绘",
            },
            "",
            "{not json",
            {
                "record_id": "88003",
                "credit_code": GEO,
                "title": "地理信息产业园配套",
                "content": "园区食堂和班车配套不足。",
                "received_at": "2026-03-05T09:00:00+08:00",
            },
            {
                "record_id": "88004",
                "credit_code": f" {GEO.lower()} ",
                "title": "地理信息产业园配套",
                "content": "园区食堂和班车配套不足，希望协调。",
                "category": "SUGGESTION",
                "tags": [],
                "received_at": None,
            },
            ["not", "an", "object"],
        ],
    )
    report = await run_import(db, clock, settings, path, Channel.BUSINESS_COMPLAINT_LINE)
    assert_errors(
        report,
        [
            (2, "tags", "expected a list of strings"),
            (4, "file", "invalid JSON"),
            (5, "received_at", "in the future"),
            (7, "file", "expected a JSON object"),
        ],
    )
    assert (report.records, report.imported, report.skipped_existing) == (6, 2, 0)

    query = """{ issues(filter: {channel: BUSINESS_COMPLAINT_LINE}, orderBy: CREATED_AT_ASC) {
      totalCount nodes { title category tags createdAt enterprise { creditCode } } } }"""
    data = await api.gql(query, as_="deqing.center")
    assert data["issues"]["totalCount"] == 2
    power, canteen = data["issues"]["nodes"]
    assert (power["title"], power["category"], power["tags"]) == (
        "用电增容审批时间过长",
        "APPEAL",
        ["用电", "增容"],
    )
    assert dt.datetime.fromisoformat(power["createdAt"]) == dt.datetime(
        2026, 2, 20, 8, tzinfo=dt.UTC
    )
    assert canteen["enterprise"]["creditCode"] == GEO and canteen["category"] == "SUGGESTION"

    # Record ids are the channel's own: the same ids from another channel are new records.
    again = await run_import(db, clock, settings, path, Channel.BUSINESS_COMPLAINT_LINE)
    assert (again.imported, again.skipped_existing, again.errors) == (0, 2, report.errors)
    other = await run_import(db, clock, settings, path, Channel.QIXIAOBANG, fmt=ImportFormat.JSONL)
    assert (other.imported, other.skipped_existing) == (2, 0)


async def test_file_and_account_problems(
    db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    no_content = write_csv(
        tmp_path / "no_content.csv",
        [[r[0], r[1], r[4]] for r in HOTLINE_ROWS],
        header=["record_id", "credit_code", "title"],
    )
    report = await run_import(db, clock, settings, no_content)
    assert report.errors == [(1, "content", "missing column")]
    assert report.imported == 0

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(",".join(HEADER).encode() + "\r\n1,,,,标题,内容,,,\r\n".encode("gbk"))
    report = await run_import(db, clock, settings, gbk)
    assert [(e.line, e.field) for e in report.errors] == [(2, "file")]
    assert "not utf-8-sig text" in report.errors[0].reason
    assert report.imported == 0
    report = await import_issues(
        db,
        clock,
        settings,
        channel=Channel.HOTLINE_12345,
        path=gbk,
        username="deqing.center",
        encoding="gb18030",
    )
    assert [(e.line, e.field, e.reason) for e in report.errors] == [(2, "credit_code", "required")]

    good = write_csv(tmp_path / "good.csv", HOTLINE_ROWS[:1])
    for username in ("nobody", "ent.deqing-geo", "deqing.talent", "deqing.evaluator"):
        with pytest.raises(ImportRefused):
            await run_import(db, clock, settings, good, username=username)
    with pytest.raises(ImportRefused, match="give csv or jsonl"):
        await run_import(db, clock, settings, good.rename(tmp_path / "good.txt"))
    with pytest.raises(ImportRefused, match="cannot read"):
        await run_import(db, clock, settings, tmp_path / "missing.csv")

    # A town's service station imports only what lies in its town.
    town = write_csv(tmp_path / "town.csv", HOTLINE_ROWS[:2])
    report = await run_import(db, clock, settings, town, username="xinshi.center")
    assert report.imported == 1
    assert [(e.line, e.field) for e in report.errors] == [(2, "credit_code")]


async def test_a_record_imported_by_another_scope_counts_as_imported(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    """Idempotency holds across accounts, even for records the importer cannot see."""
    deqing = write_csv(tmp_path / "deqing.csv", [HOTLINE_ROWS[0], HOTLINE_ROWS[1]])
    assert (await run_import(db, clock, settings, deqing)).imported == 2

    # 长兴 files the same hotline ticket for its own enterprise: it cannot see 德清's issue,
    # so only the unique (channel, record_id) constraint catches it.
    same_ticket = [HOTLINE_ROWS[0][0], *HOTLINE_ROWS[5][1:]]
    changxing = write_csv(tmp_path / "changxing.csv", [same_ticket])
    report = await run_import(db, clock, settings, changxing, username="changxing.center")
    assert (report.imported, report.skipped_existing, report.errors) == (0, 1, [])

    # The city center re-imports the county's export: it sees what 德清 took in.
    report = await run_import(db, clock, settings, deqing, username="huzhou.center")
    assert (report.imported, report.skipped_existing, report.errors) == (0, 2, [])
    data = await api.gql(HOTLINE_QUERY, as_="huzhou.center")
    assert data["issues"]["totalCount"] == 2


async def test_a_large_file_imports_every_row_once(
    db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        {
            "record_id": f"12345-2026-{i:06d}",
            "credit_code": GEO if i % 2 else SILK,
            "title": f"企业诉求第{i}号",
            "content": "请求协调解决企业生产经营中遇到的问题。",
            "category": "SERVICE_REQUEST",
            "tags": ["批量"],
        }
        for i in range(300)
    ]
    path = write_jsonl(tmp_path / "bulk.jsonl", rows)
    # Speed is a benchmark's business (bench/RESULTS.md), not a test's: only counts here.
    report = await run_import(db, clock, settings, path)
    assert (report.imported, report.errors) == (300, [])
    async with db.admin.connect() as conn:
        numbers = (
            await conn.execute(
                sa.select(sa.func.count(sa.distinct(t.issue.c.number))).where(
                    t.issue.c.channel == "HOTLINE_12345"
                )
            )
        ).scalar()
    assert numbers == 300

    # Already imported records are recognised in batches, before any unit of work.
    again = await run_import(db, clock, settings, path)
    assert (again.imported, again.skipped_existing, again.errors) == (0, 300, [])


async def test_command_line(api: Api, database_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "12345.csv", [HOTLINE_ROWS[0], HOTLINE_ROWS[2], HOTLINE_ROWS[8]])
    runner = CliRunner()
    args = ["issues", "--channel", "HOTLINE_12345", "--file", str(path), "--as", "deqing.center"]
    env = {"DATABASE_URL": database_url}

    result = await asyncio.to_thread(runner.invoke, import_app, args, env=env)
    assert result.exit_code == 1, (result.output, result.exception)
    assert "3 records: imported 2, already imported 0, bad 1" in result.stdout
    assert "line 3: credit_code: invalid unified social credit code" in result.stderr
    assert "line 3" not in result.stdout

    good = write_csv(tmp_path / "12345_good.csv", [HOTLINE_ROWS[0], HOTLINE_ROWS[8]])
    result = await asyncio.to_thread(
        runner.invoke, import_app, [*args[:4], str(good), *args[5:]], env=env
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "2 records: imported 0, already imported 2, bad 0" in result.stdout
    assert result.stderr == ""

    data = await api.gql(HOTLINE_QUERY, as_="deqing.center")
    assert data["issues"]["totalCount"] == 2

    refused = [*args[:-1], "deqing.talent"]
    result = await asyncio.to_thread(runner.invoke, import_app, refused, env=env)
    assert result.exit_code == 2
    assert "import refused" in result.stderr


def _bulk_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "record_id": f"12345-2026-B{i:05d}",
            "credit_code": GEO if i % 2 else SILK,
            "title": f"企业诉求第{i}号",
            "content": f"第{i}号：请求协调解决企业生产经营中遇到的问题。",
            "category": "SERVICE_REQUEST",
            "tags": ["批量"],
        }
        for i in range(n)
    ]


async def _import_statements(
    db: Database, clock: FrozenClock, settings: Settings, path: Path
) -> tuple[ImportReport, int]:
    with statements(db) as seen:
        report = await run_import(db, clock, settings, path)
    return report, len(seen)


async def test_a_batch_of_records_costs_the_same_statements_whatever_its_size(
    db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    """Records are checked and submitted a batch at a time: 10 records or 400, the same
    statements (each record's issue, custody, event and similarity keys in one each)."""
    few = write_jsonl(tmp_path / "few.jsonl", _bulk_rows(10))
    small, small_count = await _import_statements(db, clock, settings, few)
    many = write_jsonl(tmp_path / "many.jsonl", _bulk_rows(400)[10:])
    large, large_count = await _import_statements(db, clock, settings, many)
    assert (small.imported, large.imported, small.errors, large.errors) == (10, 390, [], [])
    assert small_count == large_count
    async with db.admin.connect() as conn:
        counts = (
            await conn.execute(
                sa.text(
                    "SELECT count(DISTINCT i.number), count(DISTINCT e.issue_id),"
                    " count(DISTINCT c.issue_id), count(DISTINCT k.issue_id)"
                    " FROM issue i JOIN issue_event e ON e.issue_id = i.id"
                    " JOIN issue_custody c ON c.issue_id = i.id"
                    " JOIN issue_similarity_key k ON k.issue_id = i.id"
                    " WHERE i.channel = 'HOTLINE_12345'"
                )
            )
        ).one()
    assert tuple(counts) == (400, 400, 400, 400)


async def test_a_batch_that_meets_a_conflict_is_submitted_record_by_record(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch rolled back by a conflict (a record imported meanwhile) is submitted again
    one record at a time: each record still gets its own answer, once."""
    from sqlalchemy.exc import IntegrityError

    from closedloop.services.issues import bulk_submit

    rows = _bulk_rows(6)
    for row in rows:
        row["credit_code"] = GEO  # one numbering region: one stream, one batch
    path = write_jsonl(tmp_path / "bulk.jsonl", rows)
    first_batch = bulk_submit.submit_many
    calls = 0

    async def conflicting(tx: Any, items: Any) -> Any:
        nonlocal calls
        calls += 1
        await first_batch(tx, items)  # written, then rolled back by the conflict
        raise IntegrityError("INSERT", {}, Exception("uq_issue_channel_external_id"))

    monkeypatch.setattr(bulk_submit, "submit_many", conflicting)
    report = await run_import(db, clock, settings, path)
    assert calls == 1
    assert (report.imported, report.skipped_existing, report.errors) == (6, 0, [])
    async with db.admin.connect() as conn:
        imported = (
            await conn.execute(
                sa.select(sa.func.count()).where(t.issue.c.channel == "HOTLINE_12345")
            )
        ).scalar()
    assert imported == 6


async def test_batches_go_in_file_order_while_the_next_is_read(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next batch is read and its keys worked out while the current one is written:
    every record still goes in once, numbered in file order, with its similarity keys."""
    from closedloop.services.issues import importer

    monkeypatch.setattr(importer, "LOAD_BATCH", 5)
    rows = _bulk_rows(23)
    for row in rows:
        row["credit_code"] = GEO  # one origin: one counter, numbers in file order
    rows[7]["title"] = ""  # a bad row inside the third batch
    report = await run_import(db, clock, settings, write_jsonl(tmp_path / "b.jsonl", rows))
    assert (report.imported, report.skipped_existing, report.bad_lines) == (22, 0, [8])
    async with db.admin.connect() as conn:
        numbered = (
            await conn.execute(
                sa.select(t.issue.c.external_id, t.issue.c.number)
                .where(t.issue.c.channel == "HOTLINE_12345")
                .order_by(t.issue.c.number)
            )
        ).all()
        keyed = await conn.scalar(
            sa.select(sa.func.count(sa.distinct(t.issue_similarity_key.c.issue_id)))
        )
    assert [external_id for external_id, _ in numbered] == [
        row["record_id"] for n, row in enumerate(rows) if n != 7
    ]
    assert keyed == 22


async def test_a_large_import_works_its_keys_out_in_a_worker_process(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From ``KEYS_POOL_FROM`` records on, the keys are worked out in a worker process:
    every issue still gets exactly the keys the API writes for it."""
    from closedloop.domain import similarity
    from closedloop.services.issues import importer

    monkeypatch.setattr(importer, "LOAD_BATCH", 4)
    monkeypatch.setattr(importer, "KEYS_POOL_FROM", 1)
    similarity._memo.clear()  # nothing known before
    rows = _bulk_rows(10)
    report = await run_import(db, clock, settings, write_jsonl(tmp_path / "k.jsonl", rows))
    assert (report.imported, report.bad_lines) == (10, [])
    async with db.admin.connect() as conn:
        issues = (
            await conn.execute(
                sa.select(
                    t.issue.c.id, t.issue.c.title, t.issue.c.content, t.issue.c.enterprise_id
                ).where(t.issue.c.channel == "HOTLINE_12345")
            )
        ).all()
        stored = (
            await conn.execute(
                sa.select(t.issue_similarity_key.c.issue_id, t.issue_similarity_key.c.key)
            )
        ).all()
    assert len(issues) == 10
    expected = {
        (i.id, key)
        for i in issues
        for key in similarity.candidate_keys(
            similarity.IssueText(i.title, i.content, str(i.enterprise_id))
        )
    }
    assert set(stored) == expected


async def test_regions_go_in_streams_each_numbered_in_file_order(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records of two numbering regions go in two streams of batches written at once:
    every record goes in once, each region's numbers in its records' file order."""
    from closedloop.services.issues import importer

    monkeypatch.setattr(importer, "LOAD_BATCH", 3)
    rows = _bulk_rows(20)  # GEO (330521001) and SILK (330521102) alternately
    rows[0]["credit_code"] = rows[2]["credit_code"] = rows[4]["credit_code"] = GEO
    rows[9]["content"] = ""  # a bad row
    report = await run_import(db, clock, settings, write_jsonl(tmp_path / "s.jsonl", rows))
    assert (report.imported, report.skipped_existing, report.bad_lines) == (19, 0, [10])
    async with db.admin.connect() as conn:
        numbered = (
            await conn.execute(
                sa.select(t.issue.c.origin_region_code, t.issue.c.external_id)
                .where(t.issue.c.channel == "HOTLINE_12345")
                .order_by(t.issue.c.number)
            )
        ).all()
    for region, code in (("330521001", GEO), ("330521102", SILK)):
        assert [external_id for origin, external_id in numbered if origin == region] == [
            row["record_id"] for n, row in enumerate(rows) if row["credit_code"] == code and n != 9
        ]
    assert importer.streams(Counter({"a": 5, "b": 3, "c": 3, "d": 1}), 2) == {
        "a": 0,
        "b": 1,
        "c": 1,
        "d": 0,
    }
