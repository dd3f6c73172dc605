"""The issue library and pool, duplicates and merging, recurrence, tags, the case library."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.schema.relay import from_global_id
from tests.api.issue_helpers import ok, run, step, submit, unit_id
from tests.conftest import DEMO_CREDIT, XINSHI_CREDIT, Api

pytestmark = pytest.mark.usefixtures("clean_issues")

CANDIDATES = """query($id: ID!) { issue(id: $id) { number suggestedTags
  duplicateCandidates { score textSimilarity sameEnterprise issue { id number } }
  recurrenceCandidates { score issue { id number } } } }"""

PORTAL = {
    "title": "厂区门口道路施工半年未完工，货车无法进出",
    "content": "新市镇工业园区东路施工已经半年，道路一直封闭，"
    "我公司运输原料和成品的货车无法进出厂区，"
    "每天只能绕行十多公里，物流成本大增，希望协调施工单位加快进度或开放临时通道。",
}
HOTLINE = {
    "title": "来电反映工业园区东路施工封路影响企业货车通行",
    "content": "来电人称：新市镇工业园区东路施工封闭已半年，"
    "公司货车进出厂区困难，只能绕行十几公里，"
    "物流成本明显增加，要求协调加快施工进度或开放临时通道。",
}
OTHER = {
    "title": "申请高新技术企业研发费用补助迟迟未兑现",
    "content": "我公司去年认定为高新技术企业，按政策可获得研发费用补助，申请已提交四个月仍未兑付。",
}


async def test_duplicates_are_found_and_false_matches_kept_out(api: Api) -> None:
    first = await submit(api, **PORTAL)
    second = await submit(api, **HOTLINE)
    other = await submit(api, **OTHER)
    data = (await api.gql(CANDIDATES, {"id": second["id"]}, as_="xinshi.center"))["issue"]
    found = [c["issue"]["number"] for c in data["duplicateCandidates"]]
    assert found == [first["number"]]
    assert data["duplicateCandidates"][0]["sameEnterprise"] is True
    assert 0.5 <= data["duplicateCandidates"][0]["score"] <= 1
    unrelated = (await api.gql(CANDIDATES, {"id": other["id"]}, as_="xinshi.center"))["issue"]
    assert unrelated["duplicateCandidates"] == []
    # Another county does not see the candidates (they are out of its scope).
    assert (await api.gql(CANDIDATES, {"id": second["id"]}, as_="changxing.center"))[
        "issue"
    ] is None


async def test_merge_then_every_reporter_hears_the_resolution(api: Api, db: Database) -> None:
    primary = await submit(api, **PORTAL)
    dup = await ok(
        api,
        "submitIssue",
        {**HOTLINE, "channel": "HOTLINE_12345", "creditCode": XINSHI_CREDIT},
        "xinshi.center",
    )
    primary = await step(api, "acceptIssue", primary, "xinshi.center")
    merged = await ok(
        api,
        "mergeIssues",
        {
            "primaryId": primary["id"],
            "primaryVersion": primary["version"],
            "duplicates": [{"id": dup["id"], "expectedVersion": dup["version"]}],
            "reason": "同一问题两个渠道反映",
        },
        "xinshi.center",
    )
    assert merged["id"] == primary["id"]
    read = """query($id: ID!) { issue(id: $id) { state version mergedInto { number }
      timeline { type public } } }"""
    dup_view = (await api.gql(read, {"id": dup["id"]}, as_="xinshi.center"))["issue"]
    assert dup_view["state"] == "MERGED"
    assert dup_view["mergedInto"] == {"number": primary["number"]}
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    merged = await step(api, "assignIssue", merged, "xinshi.center", boardId=talent)
    await step(api, "resolveIssue", merged, "xinshi.talent", reply="已协调开放临时通道")
    dup_view = (await api.gql(read, {"id": dup["id"]}, as_="xinshi.center"))["issue"]
    assert [e["type"] for e in dup_view["timeline"]] == ["SUBMITTED", "MERGED", "PRIMARY_RESOLVED"]
    async with db.admin.connect() as conn:
        sms = (
            (
                await conn.execute(
                    sa.select(t.outbox.c.issue_id).where(t.outbox.c.topic == "ISSUE_RESOLVED")
                )
            )
            .scalars()
            .all()
        )
    ids = {int(from_global_id(x["id"])[1]) for x in (merged, dup)}  # type: ignore[index]
    assert sorted(sms) == sorted(ids)  # both reporters get the resolution SMS
    stats = await api.gql(
        '{ libraryStats(region: "330521") { library merged pool settledInChannel } }',
        as_="deqing.center",
    )
    assert stats["libraryStats"] == {"library": 2, "merged": 1, "pool": 1, "settledInChannel": 0}


async def test_bad_merges_are_typed_errors(api: Api) -> None:
    a = await submit(api, **PORTAL)
    b = await submit(api, **HOTLINE)
    # Raised in the town but now held by the county: visible to the town, not its to merge.
    foreign = await submit(api, **OTHER)
    foreign = await step(api, "acceptIssue", foreign, "xinshi.center")
    foreign = await step(api, "escalateIssue", foreign, "xinshi.center", reason="上报")

    async def merge(primary: dict, dups: list[dict], who: str = "xinshi.center") -> str:
        result = await run(
            api,
            "mergeIssues",
            {
                "primaryId": primary["id"],
                "primaryVersion": primary["version"],
                "duplicates": [{"id": d["id"], "expectedVersion": d["version"]} for d in dups],
            },
            who,
        )
        return result["errors"][0]["code"]

    assert await merge(a, [a]) == "MERGE_INTO_ITSELF"
    assert await merge(a, [foreign]) == "MERGE_ACROSS_SCOPES"
    assert await merge(a, [b], who="changxing.center") == "NOT_FOUND"
    await ok(
        api,
        "mergeIssues",
        {
            "primaryId": a["id"],
            "primaryVersion": a["version"],
            "duplicates": [{"id": b["id"], "expectedVersion": b["version"]}],
        },
        "xinshi.center",
    )
    b_now = (
        await api.gql(
            "query($id: ID!) { issue(id: $id) { id version } }",
            {"id": b["id"]},
            as_="xinshi.center",
        )
    )["issue"]
    a_now = (
        await api.gql(
            "query($id: ID!) { issue(id: $id) { id version } }",
            {"id": a["id"]},
            as_="xinshi.center",
        )
    )["issue"]
    # Into one of its own duplicates: the merged one cannot become a primary.
    assert await merge(b_now, [a_now]) == "MERGE_TARGET_INVALID"


async def test_recurrence_is_suggested_and_confirmed(api: Api, clock: FrozenClock) -> None:
    earlier = await submit(api, **PORTAL, tags=["道路交通"])
    earlier = await step(api, "acceptIssue", earlier, "xinshi.center")
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    earlier = await step(api, "assignIssue", earlier, "xinshi.center", boardId=talent)
    earlier = await step(api, "resolveIssue", earlier, "xinshi.talent", reply="已开放临时通道")
    clock.advance(dt.timedelta(days=40))
    again = await submit(api, **HOTLINE, tags=["道路交通"])
    data = (await api.gql(CANDIDATES, {"id": again["id"]}, as_="xinshi.center"))["issue"]
    assert [c["issue"]["number"] for c in data["recurrenceCandidates"]] == [earlier["number"]]
    not_resolved = await submit(api, **OTHER)
    bad = await run(
        api,
        "confirmRecurrence",
        {"id": again["id"], "expectedVersion": again["version"], "previousId": not_resolved["id"]},
        "xinshi.center",
    )
    assert bad["errors"][0]["code"] == "RECURRENCE_INVALID"
    linked = await step(api, "confirmRecurrence", again, "xinshi.center", previousId=earlier["id"])
    assert linked["id"] == again["id"]
    before = await api.gql(
        "query($id: ID!) { issue(id: $id) { recurred } }",
        {"id": earlier["id"]},
        as_="xinshi.center",
    )
    assert before["issue"]["recurred"] is True
    # Too long ago: outside the 90-day window nothing is suggested.
    clock.advance(dt.timedelta(days=200))
    late = await submit(api, **HOTLINE, tags=["道路交通"])
    data = (await api.gql(CANDIDATES, {"id": late["id"]}, as_="xinshi.center"))["issue"]
    assert data["recurrenceCandidates"] == []


async def test_tags_are_suggested_and_counted(api: Api) -> None:
    issue = await submit(
        api, title="招不到熟练挡车工", content="扩产后缺少熟练挡车工约30人", tags=["招工难"]
    )
    await submit(api, title="招工", content="缺工", tags=["招工难", "社保"])
    data = (await api.gql(CANDIDATES, {"id": issue["id"]}, as_="xinshi.center"))["issue"]
    assert data["suggestedTags"][0] == "人才›技能人才招引"
    top = await api.gql('{ topTags(region: "330521") { tag count } }', as_="deqing.center")
    assert top["topTags"] == [{"tag": "招工难", "count": 2}, {"tag": "社保", "count": 1}]
    library = await api.gql("{ tags { path parentId } }", as_="deqing.center")
    paths = [t["path"] for t in library["tags"]]
    assert "人才›技能人才招引" in paths and "人才" in paths
    suggested = await api.gql(
        '{ suggestTags(text: "申请出口退税一直没有到账") }', as_="deqing.center"
    )
    assert suggested["suggestTags"][0] == "税费›出口退税"


async def test_shared_cases_are_province_wide_read_only_and_anonymous(api: Api) -> None:
    issue = await submit(
        api,
        title="新市丝绸织造有限公司用电增容",
        content=(
            "新市丝绸织造有限公司（91330521MA28C7LQ2X）新上织机需增容800千伏安，"
            "联系人张三，电话13905720000，座机0572-8812345；法定代表人欧阳晓峰，"
            "身份证号33050319820602178X，厂址德清县新市镇工业园区东路18号。"
            "李女士反映最多跑一次后仍跑了三趟。"
        ),
    )
    share = """mutation($i: ShareCaseInput!) { shareCase(input: $i) {
      case { id title problem solution regionCode } errors { code } } }"""
    unresolved = (
        await api.gql(
            share,
            {"i": {"issueId": issue["id"], "expectedVersion": issue["version"]}},
            as_="xinshi.center",
        )
    )["shareCase"]
    assert unresolved["errors"][0]["code"] == "NOT_RESOLVED"
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(
        api,
        "resolveIssue",
        issue,
        "xinshi.center",
        reply="协调供电公司开辟绿色通道，15天完成增容。",
    )
    shared = await api.gql(
        """mutation($i: ShareCaseInput!) { shareCase(input: $i) {
             case { id title problem solution regionCode } errors { code } } }""",
        {"i": {"issueId": issue["id"], "expectedVersion": issue["version"]}},
        as_="xinshi.center",
    )
    case = shared["shareCase"]["case"]
    assert shared["shareCase"]["errors"] == []
    # Every identity is replaced by its typed placeholder; the policy term stays (issue #17).
    assert case["title"] == "【企业】用电增容"
    assert case["problem"] == (
        "【企业】（【信用代码】）新上织机需增容800千伏安，"
        "联系人【姓名】，电话【电话】，座机【电话】；法定代表人【姓名】，"
        "身份证号【身份证】，厂址【地址】。"
        "【姓名】女士反映最多跑一次后仍跑了三趟。"
    )
    assert case["solution"] == "协调供电公司开辟绿色通道，15天完成增容。"
    query = "{ cases { totalCount nodes { id title } } }"
    for who in ("hangzhou.center", "province.monitor", "xinshi.center"):
        assert (await api.gql(query, as_=who))["cases"]["totalCount"] == 1
    assert (await api.gql(query, as_="ent.xinshi-silk"))["cases"]["totalCount"] == 0
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": case["id"]}, as_="hangzhou.center"
    )
    assert node["node"] == {"id": case["id"]}
    again = (
        await api.gql(
            share, {"i": {"issueId": issue["id"], "expectedVersion": 99}}, as_="xinshi.center"
        )
    )["shareCase"]
    assert again["errors"][0]["code"] in ("VERSION_CONFLICT", "ALREADY_SHARED")


async def test_matters_settled_in_their_channel_stay_in_the_library(api: Api) -> None:
    settled = await ok(
        api,
        "submitIssue",
        {
            "title": "咨询营业执照经营范围变更",
            "content": "如何变更经营范围",
            "channel": "HOTLINE_12345",
            "creditCode": DEMO_CREDIT,
            "settledResult": "热线直接答复：可通过浙里办在线办理",
        },
        "deqing.center",
    )
    assert settled["state"] == "CLOSED" and settled["handlingLevel"] == "ORIGINAL_CHANNEL"
    await submit(api)
    pool = await api.gql("{ issues(filter: {inPool: true}) { totalCount } }", as_="deqing.center")
    library = await api.gql("{ issues { totalCount } }", as_="deqing.center")
    assert (pool["issues"]["totalCount"], library["issues"]["totalCount"]) == (1, 2)
    refused = await run(
        api, "submitIssue", {"title": "a", "content": "b", "settledResult": "x"}, "ent.xinshi-silk"
    )
    assert refused["errors"][0]["code"] == "PERMISSION_DENIED"


DRAW = """mutation($i: DrawCallbackSampleInput!) { drawCallbackSample(input: $i) {
  sample { regionCode period rate seed population items { issue { id version } outcome } }
  errors { code field } } }"""


async def test_callback_sample_is_reproducible_and_verification_reopens(
    api: Api, clock: FrozenClock
) -> None:
    for n in range(6):
        issue = await submit(api, title=f"用电问题{n}", content=f"第{n}件")
        issue = await step(api, "acceptIssue", issue, "xinshi.center")
        await step(api, "resolveIssue", issue, "xinshi.center", reply="已办结")
    outside = await submit(api, title="未办结", content="仍在办理")
    drawn = await api.gql(
        DRAW, {"i": {"region": "330521102", "period": "2026-03"}}, as_="xinshi.center"
    )
    sample = drawn["drawCallbackSample"]["sample"]
    assert (sample["population"], len(sample["items"]), sample["seed"]) == (
        6,
        2,
        "330521102:2026-03",
    )  # ceil(20% of 6)
    again = await api.gql(
        DRAW, {"i": {"region": "330521102", "period": "2026-03"}}, as_="xinshi.center"
    )
    assert again["drawCallbackSample"]["sample"]["items"] == sample["items"]
    read = await api.gql(
        '{ callbackSample(region: "330521102", period: "2026-03") { items { issue { id } } } }',
        as_="xinshi.center",
    )
    assert len(read["callbackSample"]["items"]) == 2
    bad = await api.gql(DRAW, {"i": {"region": "330522", "period": "2026-03"}}, as_="xinshi.center")
    assert bad["drawCallbackSample"]["errors"][0]["code"] == "REGION_NOT_FOUND"
    bad = await api.gql(
        DRAW, {"i": {"region": "330521102", "period": "2026-13"}}, as_="xinshi.center"
    )
    assert bad["drawCallbackSample"]["errors"][0]["code"] == "INVALID_PERIOD"

    sampled = sample["items"][0]["issue"]
    verified = await step(
        api,
        "verifyIssue",
        sampled,
        "xinshi.center",
        outcome="NOT_RESOLVED",
        note="企业反映问题仍然存在",
    )
    assert verified["state"] == "REOPENED"
    not_sampled = await run(
        api,
        "verifyIssue",
        {"id": outside["id"], "expectedVersion": outside["version"], "outcome": "CONFIRMED"},
        "xinshi.center",
    )
    assert not_sampled["errors"][0]["code"] in ("NOT_IN_SAMPLE", "INVALID_TRANSITION")
    del clock


def test_the_draw_itself_is_pure_and_reproducible() -> None:
    from decimal import Decimal

    from closedloop.services.learning.callbacks import pick

    ids = list(range(1, 101))
    first = pick("3305:2026-Q1", Decimal("0.2"), ids)
    assert first == pick("3305:2026-Q1", Decimal("0.2"), list(reversed(ids)))
    assert len(first) == 20 and first != pick("3305:2026-Q2", Decimal("0.2"), ids)
    assert pick("s", Decimal("0.2"), []) == []
