"""A realistic demo data set: the Zhejiang tree, 湖州 tiers, enterprises, an account per role."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from stdnum.cn import uscc

from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.identity.accounts import NewEnterprise, upsert_account, upsert_enterprise
from closedloop.services.learning.tags import load_library
from closedloop.tenancy.seed import load_region_file


def credit_code(base17: str) -> str:
    """Complete a 17-character base with its GB 32100 check character."""
    return base17 + str(uscc.calc_check_digit(base17))


@dataclass(frozen=True, slots=True)
class DemoEnterprise:
    key: str
    name: str
    region_code: str
    base17: str


DEMO_ENTERPRISES = (
    DemoEnterprise("ent.deqing-geo", "德清地信科技有限公司", "330521001", "91330521MA2B3K4X5"),
    DemoEnterprise("ent.xinshi-silk", "新市丝绸织造有限公司", "330521102", "91330521MA28C7LQ2"),
    DemoEnterprise(
        "ent.changxing-battery", "长兴新能源电池有限公司", "330522001", "91330522MA2D1W8N3"
    ),
    DemoEnterprise("ent.wuxing-textile", "吴兴织里童装有限公司", "330502100", "91330502MA29Y6P1X"),
    DemoEnterprise("ent.hangzhou-soft", "杭州云栖软件有限公司", "330106004", "91330106MA27U9H4R"),
)


@dataclass(frozen=True, slots=True)
class DemoStaff:
    username: str
    display_name: str
    role: Role
    region_code: str
    board_key: str | None = None
    department_key: str | None = None


DEMO_STAFF = (
    DemoStaff("province.monitor", "省级监测员", Role.PROVINCE_MONITOR, "33"),
    DemoStaff("province.center", "省企业综合服务中心", Role.CENTER_STAFF, "33"),
    DemoStaff("province.leader", "省级分管领导", Role.LEADER, "33"),
    DemoStaff("admin", "平台管理员", Role.ADMIN, "33"),
    DemoStaff("huzhou.center", "湖州市企业综合服务中心", Role.CENTER_STAFF, "3305"),
    DemoStaff("huzhou.leader", "湖州市分管领导", Role.LEADER, "3305"),
    DemoStaff("huzhou.evaluator", "湖州市委改革办评价员", Role.EVALUATOR, "3305"),
    DemoStaff(
        "huzhou.talent", "湖州市人才服务板块", Role.BOARD_HANDLER, "3305", board_key="TALENT"
    ),
    DemoStaff("deqing.center", "德清县企业综合服务中心", Role.CENTER_STAFF, "330521"),
    DemoStaff("deqing.leader", "德清县分管领导", Role.LEADER, "330521"),
    DemoStaff("deqing.evaluator", "德清县委改革办评价员", Role.EVALUATOR, "330521"),
    DemoStaff("deqing.talent", "德清县人才服务板块", Role.BOARD_HANDLER, "330521", "TALENT"),
    DemoStaff(
        "deqing.market",
        "德清县市场监管局",
        Role.DEPARTMENT_HANDLER,
        "330521",
        department_key="MARKET_REGULATION",
    ),
    DemoStaff("xinshi.center", "新市镇企业服务站", Role.CENTER_STAFF, "330521102"),
    DemoStaff("xinshi.leader", "新市镇分管领导", Role.LEADER, "330521102"),
    DemoStaff("xinshi.talent", "新市镇人才服务专员", Role.BOARD_HANDLER, "330521102", "TALENT"),
    DemoStaff("changxing.center", "长兴县企业综合服务中心", Role.CENTER_STAFF, "330522"),
    DemoStaff("changxing.talent", "长兴县人才服务板块", Role.BOARD_HANDLER, "330522", "TALENT"),
    DemoStaff("hangzhou.center", "杭州市企业综合服务中心", Role.CENTER_STAFF, "3301"),
)


async def seed_demo(conn: AsyncConnection) -> list[str]:
    """Idempotent: running it twice changes nothing. Returns the usernames created."""
    has_regions = (await conn.execute(sa.select(sa.func.count()).select_from(t.region))).scalar()
    if not has_regions:
        await load_region_file(conn, None)
    await load_library(conn)
    usernames: list[str] = []
    for ent in DEMO_ENTERPRISES:
        ent_id = await upsert_enterprise(
            conn, NewEnterprise(credit_code(ent.base17), ent.name, ent.region_code, "0572-0000000")
        )
        await upsert_account(
            conn,
            username=ent.key,
            display_name=ent.name,
            role=Role.ENTERPRISE,
            enterprise_id=ent_id,
        )
        usernames.append(ent.key)
    for staff in DEMO_STAFF:
        await upsert_account(
            conn,
            username=staff.username,
            display_name=staff.display_name,
            role=staff.role,
            region_code=staff.region_code,
            board_key=staff.board_key,
            department_key=staff.department_key,
        )
        usernames.append(staff.username)
    return usernames
