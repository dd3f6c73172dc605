"""Property: whatever the tree, the callers and the issues, every path into the data —
list, count, ``issue``, ``node``, nested timelines and mutations — treats what is out of
the caller's scope exactly like what does not exist. An enterprise never sees another's.

Trees are drawn from the real Zhejiang tree (subtrees of two cities); issues are placed
anywhere in them and held by their origin or any ancestor; callers are any role at any
region of the tree, or any enterprise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection
from stdnum.cn import uscc

from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.identity.accounts import upsert_account
from closedloop.schema.relay import to_global_id
from tests.conftest import T0, Api, cost

pytestmark = pytest.mark.usefixtures("clean_issues")

NOTE = "mutation($i: AddIssueNoteInput!) { addIssueNote(input: $i) { errors { code field } } }"

ROOTS = ("3305", "3301")
_counter = itertools.count(1)


@dataclass(frozen=True)
class Tree:
    towns: tuple[str, ...]  # every town of the drawn subtrees

    def ancestors_or_self(self, code: str) -> list[str]:
        out = [code]
        while len(out[-1]) > 2:
            last = out[-1]
            out.append(last[:6] if len(last) == 9 else last[:-2])
        return out


_TREE: Tree | None = None


async def tree(db: Database) -> Tree:
    global _TREE
    if _TREE is None:
        async with db.admin.connect() as conn:
            rows = await conn.execute(
                sa.select(t.region.c.code)
                .where(
                    t.region.c.level == "TOWN",
                    sa.or_(*(t.region.c.code.startswith(r) for r in ROOTS)),
                )
                .order_by(t.region.c.code)
            )
            _TREE = Tree(tuple(rows.scalars()))
    return _TREE


@dataclass(frozen=True)
class IssueSpec:
    town_index: int
    holder_up: int  # 0 = held by its town, 1 = its county, 2 = its city, 3 = the province
    enterprise_slot: int
    board_slot: int | None


@dataclass(frozen=True)
class CallerSpec:
    role: Role
    town_index: int
    up: int
    enterprise_slot: int


issues_st = st.lists(
    st.builds(
        IssueSpec,
        st.integers(0, 10_000),
        st.integers(0, 3),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(0, 1)),
    ),
    min_size=1,
    max_size=6,
)
caller_st = st.builds(
    CallerSpec,
    # A channel system signs in with its client-credentials token only and sees what it
    # submitted (tests/api/test_channels.py); the issues here are written directly.
    st.sampled_from([r for r in Role if r not in (Role.ADMIN, Role.CHANNEL)]),
    st.integers(0, 10_000),
    st.integers(0, 3),
    st.integers(0, 3),
)


def expected_visible(
    role: Role, region: str, enterprise_id: int | None, board_id: int | None, row: dict[str, object]
) -> bool:
    """The rule of DESIGN §3, restated independently of the code under test."""
    origin, holding = str(row["origin"]), str(row["holding"])
    if role is Role.ENTERPRISE:
        return row["enterprise_id"] == enterprise_id
    if role is Role.BOARD_HANDLER:
        return holding == region and row["board_id"] == board_id
    if role is Role.DEPARTMENT_HANDLER:
        return False  # issues here are assigned to boards only
    return origin.startswith(region) or holding.startswith(region)


async def _enterprise(conn: AsyncConnection, town: str, slot: int) -> int:
    base = f"91{town[:6]}MA{slot:02d}{town[-3:]}P7"[:17].ljust(17, "0")
    code = base + str(uscc.calc_check_digit(base))
    row = await conn.execute(
        sa.text(
            "INSERT INTO enterprise (credit_code, name, region_code) VALUES (:c, :n, :r)"
            " ON CONFLICT (credit_code) DO UPDATE SET name = excluded.name RETURNING id"
        ),
        {"c": code, "n": f"属性测试企业{town}-{slot}", "r": town},
    )
    return int(row.scalar_one())


async def _board(conn: AsyncConnection, region: str, slot: int) -> int:
    key = ("TALENT", "LEGAL")[slot]
    row = await conn.execute(
        sa.select(t.board.c.id).where(t.board.c.region_code == region, t.board.c.key == key)
    )
    return int(row.scalar_one())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=issues_st, caller=caller_st)
async def test_out_of_scope_is_indistinguishable_from_missing(
    api: Api, db: Database, specs: list[IssueSpec], caller: CallerSpec
) -> None:
    tr = await tree(db)
    rows: list[dict[str, object]] = []
    async with db.admin.begin() as conn:
        await conn.execute(
            sa.text("TRUNCATE issue_event, issue_custody, issue RESTART IDENTITY CASCADE")
        )
        for n, spec in enumerate(specs):
            town = tr.towns[spec.town_index % len(tr.towns)]
            holding = tr.ancestors_or_self(town)[spec.holder_up]
            ent = await _enterprise(conn, town, spec.enterprise_slot)
            board = (
                await _board(conn, holding, spec.board_slot)
                if spec.board_slot is not None
                else None
            )
            issue_id = (
                await conn.execute(
                    t.issue.insert()
                    .values(
                        number=f"P-{next(_counter)}-{n}",
                        title=f"属性测试{n}",
                        content="内容",
                        enterprise_id=ent,
                        origin_region_code=town,
                        holding_region_code=holding,
                        channel="ONLINE_PORTAL",
                        proactive=False,
                        handling_level="CENTER",
                        state="ASSIGNED" if board else "ACCEPTED",
                        board_id=board,
                        created_at=T0,
                        updated_at=T0,
                    )
                    .returning(t.issue.c.id)
                )
            ).scalar_one()
            await conn.execute(
                t.issue_event.insert().values(
                    issue_id=issue_id,
                    occurred_at=T0,
                    actor_name="测试",
                    type="SUBMITTED",
                    public=True,
                    payload={},
                )
            )
            rows.append(
                {
                    "id": issue_id,
                    "origin": town,
                    "holding": holding,
                    "enterprise_id": ent,
                    "board_id": board,
                }
            )
        # The caller.
        town = tr.towns[caller.town_index % len(tr.towns)]
        region = tr.ancestors_or_self(town)[caller.up]
        username = f"prop.{next(_counter)}"
        enterprise_id = board_id = None
        if caller.role is Role.ENTERPRISE:
            enterprise_id = await _enterprise(conn, town, caller.enterprise_slot)
            await upsert_account(
                conn,
                username=username,
                display_name="企业",
                role=caller.role,
                enterprise_id=enterprise_id,
            )
        else:
            board_key = "TALENT" if caller.role is Role.BOARD_HANDLER else None
            dept_key = "COMMERCE" if caller.role is Role.DEPARTMENT_HANDLER else None
            await upsert_account(
                conn,
                username=username,
                display_name="员工",
                role=caller.role,
                region_code=region,
                board_key=board_key,
                department_key=dept_key,
            )
            if board_key:
                board_id = await _board(conn, region, 0)

    expected = {
        to_global_id("Issue", r["id"])
        for r in rows
        if expected_visible(caller.role, region, enterprise_id, board_id, r)
    }
    listed = await api.gql(
        "{ issues(first: 100) { totalCount nodes { id timeline { type } } } }", as_=username
    )
    assert {n["id"] for n in listed["issues"]["nodes"]} == expected
    assert listed["issues"]["totalCount"] == len(expected)
    missing_answer = None
    for r in rows:
        gid = to_global_id("Issue", r["id"])
        one = (
            await api.post(
                "query($id: ID!) { issue(id: $id) { id } node(id: $id) { id } }",
                {"id": gid},
                as_=username,
            )
        ).json()
        if gid in expected:
            assert one["data"] == {"issue": {"id": gid}, "node": {"id": gid}}
            continue
        assert one == {"data": {"issue": None, "node": None}, **cost(2)}
        # Acting on it answers like acting on a missing issue.
        act = (
            await api.post(
                NOTE,
                {"i": {"id": gid, "expectedVersion": 1, "text": "探测"}},
                as_=username,
            )
        ).json()
        missing = (
            await api.post(
                NOTE,
                {
                    "i": {
                        "id": to_global_id("Issue", 987_654_321),
                        "expectedVersion": 1,
                        "text": "探测",
                    }
                },
                as_=username,
            )
        ).json()
        assert act == missing
        missing_answer = missing
    if missing_answer is not None:
        assert missing_answer["data"]["addIssueNote"]["errors"][0]["code"] == "NOT_FOUND"
