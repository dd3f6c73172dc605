"""Account and enterprise administration as services (the API and the command line call
these): scoped by the policy, every bad input a typed error with nothing written and the
audit log unchanged, every change audited with before -> after."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError
from closedloop.domain.accounts import AccountErrorCode as E
from closedloop.domain.clock import FrozenClock
from closedloop.identity.accounts import principal_for
from closedloop.services.accounts import accounts as svc
from closedloop.services.accounts import enterprises as ent_svc
from closedloop.services.accounts.audit import AuditAction, AuditObject, append
from closedloop.services.accounts.unit import Operator
from closedloop.services.demo import credit_code


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def fresh_credit_code() -> str:
    """A valid unified social credit code no test used before."""
    return credit_code(
        "91330802" + uuid.uuid4().hex[:9].upper().replace("I", "1").replace("O", "0")
    )


async def principal(db: Database, username: str) -> Principal:
    async with db.read_reference() as conn:
        found = await principal_for(conn, username)
    assert found is not None, username
    return found


async def audit_count(db: Database) -> int:
    async with db.system_transaction() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(t.audit_log)) or 0)


async def unit(db: Database, table: sa.Table, region: str, key: str) -> int:
    async with db.read_reference() as conn:
        found = await conn.scalar(
            sa.select(table.c.id).where(table.c.region_code == region, table.c.key == key)
        )
    assert found is not None
    return int(found)


def staff(role: Role, region: str, **more: Any) -> svc.AccountBinding:
    return svc.AccountBinding(role=role, region_code=region, **more)


async def city_admin(db: Database, clock: FrozenClock) -> Principal:
    """A fresh 衢州 (3308) ADMIN, created by the province admin."""
    admin = await principal(db, "admin")
    name = unique("quzhou.admin")
    await svc.create_account(
        db, clock, admin, svc.NewAccount(name, "衢州市管理员", staff(Role.ADMIN, "3308"))
    )
    return await principal(db, name)


async def refused(
    db: Database, code: E, action: Callable[[], Awaitable[object]], field: str | None = None
) -> None:
    """The action fails with ``code`` and writes nothing: not even an audit entry."""
    before = await audit_count(db)
    with pytest.raises(AccountError) as caught:
        await action()
    assert caught.value.code is code, caught.value
    if field is not None:
        assert caught.value.field == field
    assert await audit_count(db) == before


async def test_a_city_admin_administers_its_subtree_and_every_change_is_audited(
    db: Database, clock: FrozenClock
) -> None:
    quzhou = await city_admin(db, clock)
    before = await audit_count(db)
    name = unique("kecheng.center")
    made = await svc.create_account(
        db, clock, quzhou, svc.NewAccount(name, "柯城区中心", staff(Role.CENTER_STAFF, "330802"))
    )
    assert (made.role, made.region_code, made.active, made.version) == (
        "CENTER_STAFF",
        "330802",
        True,
        1,
    )
    board = await unit(db, t.board, "330802", "TALENT")
    handler = await svc.create_account(
        db,
        clock,
        quzhou,
        svc.NewAccount(
            unique("kecheng.talent"),
            "柯城区人才板块",
            staff(Role.BOARD_HANDLER, "330802", board_id=board),
        ),
    )
    assert handler.board_id == board
    changed = await svc.update_account(
        db, clock, quzhou, made.id, 1, svc.AccountChange(display_name="柯城区企业综合服务中心")
    )
    assert (changed.display_name, changed.version) == ("柯城区企业综合服务中心", 2)
    gone = await svc.deactivate_account(db, clock, quzhou, made.id, 2)
    assert (gone.active, gone.version) == (False, 3)
    assert await audit_count(db) == before + 4
    async with db.system_transaction() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(t.audit_log)
                    .where(
                        t.audit_log.c.object_id == made.id, t.audit_log.c.object_kind == "ACCOUNT"
                    )
                    .order_by(t.audit_log.c.id)
                )
            )
            .mappings()
            .all()
        )
    assert [r["action"] for r in rows] == [
        AuditAction.ACCOUNT_CREATED,
        AuditAction.ACCOUNT_UPDATED,
        AuditAction.ACCOUNT_DEACTIVATED,
    ]
    assert {r["actor_name"] for r in rows} == {quzhou.username}
    assert {r["actor_id"] for r in rows} == {quzhou.account_id}
    assert rows[0]["before"] is None and rows[0]["after"]["region_code"] == "330802"
    assert rows[1]["before"]["display_name"] == "柯城区中心"
    assert rows[1]["after"]["display_name"] == "柯城区企业综合服务中心"
    assert (rows[2]["before"]["active"], rows[2]["after"]["active"]) == (True, False)
    assert {r["region_code"] for r in rows} == {"330802"}
    # The deactivated account no longer signs in.
    async with db.read_reference() as conn:
        assert await principal_for(conn, name) is None


async def test_bad_input_is_a_typed_error_and_writes_nothing(
    db: Database, clock: FrozenClock
) -> None:
    quzhou = await city_admin(db, clock)
    admin = await principal(db, "admin")

    def create(role: Role, region: str | None, username: str | None = None, **more: Any):  # type: ignore[no-untyped-def]
        binding = svc.AccountBinding(role=role, region_code=region, **more)
        cmd = svc.NewAccount(username or unique("x"), "某人", binding)
        return lambda: svc.create_account(db, clock, quzhou, cmd)

    huzhou_board = await unit(db, t.board, "3305", "TALENT")
    await refused(db, E.REGION_OUT_OF_SCOPE, create(Role.CENTER_STAFF, "330521"), "regionCode")
    await refused(db, E.ABOVE_OWN_SCOPE, create(Role.ADMIN, "33"), "regionCode")
    await refused(db, E.ABOVE_OWN_SCOPE, create(Role.ADMIN, "3305"), "regionCode")
    await refused(db, E.REGION_NOT_FOUND, create(Role.CENTER_STAFF, "330899"), "regionCode")
    await refused(db, E.INVALID_REGION_CODE, create(Role.CENTER_STAFF, "33x"), "regionCode")
    await refused(
        db,
        E.UNIT_OF_ANOTHER_REGION,
        create(Role.BOARD_HANDLER, "330802", board_id=huzhou_board),
        "boardId",
    )
    await refused(db, E.UNIT_REQUIRED, create(Role.BOARD_HANDLER, "330802"), "boardId")
    await refused(db, E.BOARD_NOT_FOUND, create(Role.BOARD_HANDLER, "3308", board_id=-1))
    await refused(db, E.ROLE_NEEDS_PROVINCE, create(Role.PROVINCE_MONITOR, "3308"))
    await refused(db, E.USERNAME_TAKEN, create(Role.CENTER_STAFF, "3308", "admin"), "username")
    await refused(db, E.INVALID_USERNAME, create(Role.CENTER_STAFF, "3308", "a b"), "username")
    # Someone who administers nothing.
    center = await principal(db, "huzhou.center")
    cmd = svc.NewAccount(unique("x"), "某人", staff(Role.CENTER_STAFF, "3305"))
    await refused(db, E.PERMISSION_DENIED, lambda: svc.create_account(db, clock, center, cmd))
    # Accounts out of scope answer like missing ones.
    huzhou = await principal(db, "huzhou.center")
    assert huzhou.account_id is not None
    await refused(
        db,
        E.NOT_FOUND,
        lambda: svc.deactivate_account(db, clock, quzhou, huzhou.account_id or 0, None),
    )
    await refused(
        db, E.NOT_FOUND, lambda: svc.deactivate_account(db, clock, quzhou, 987654321, None)
    )
    # Moving an account it administers out of its scope, or raising it above.
    mine = await svc.create_account(
        db, clock, quzhou, svc.NewAccount(unique("qz"), "某人", staff(Role.CENTER_STAFF, "3308"))
    )
    await refused(
        db,
        E.ABOVE_OWN_SCOPE,
        lambda: svc.update_account(
            db, clock, quzhou, mine.id, None, svc.AccountChange(binding=staff(Role.ADMIN, "33"))
        ),
    )
    await refused(
        db,
        E.VERSION_CONFLICT,
        lambda: svc.update_account(
            db, clock, quzhou, mine.id, 7, svc.AccountChange(display_name="x")
        ),
    )
    # The last province admin cannot go, not even by its own hand.
    assert admin.account_id is not None
    await refused(
        db,
        E.LAST_PROVINCE_ADMIN,
        lambda: svc.deactivate_account(db, clock, admin, admin.account_id or 0, None),
    )
    await refused(
        db,
        E.LAST_PROVINCE_ADMIN,
        lambda: svc.update_account(
            db,
            clock,
            admin,
            admin.account_id or 0,
            None,
            svc.AccountChange(binding=staff(Role.ADMIN, "3308")),
        ),
    )


async def test_a_second_province_admin_may_leave(db: Database, clock: FrozenClock) -> None:
    admin = await principal(db, "admin")
    second = await svc.create_account(
        db,
        clock,
        admin,
        svc.NewAccount(unique("province.admin"), "省管理员乙", staff(Role.ADMIN, "33")),
    )
    himself = await principal(db, second.username)
    gone = await svc.deactivate_account(db, clock, himself, second.id, None)
    assert gone.active is False


async def test_enterprises_registered_changed_and_imported_idempotently(
    db: Database, clock: FrozenClock
) -> None:
    quzhou = await city_admin(db, clock)
    code = fresh_credit_code()
    ent = await ent_svc.register_enterprise(
        db,
        clock,
        quzhou,
        ent_svc.NewEnterprise(code.lower(), " 衢州某材料公司 ", "330802", "王经理", "0570-1234567"),
    )
    assert (ent.credit_code, ent.name, ent.version) == (code, "衢州某材料公司", 1)
    await refused(
        db,
        E.CREDIT_CODE_TAKEN,
        lambda: ent_svc.register_enterprise(
            db, clock, quzhou, ent_svc.NewEnterprise(code, "又一家", "330802")
        ),
    )
    await refused(
        db,
        E.INVALID_CREDIT_CODE,
        lambda: ent_svc.register_enterprise(
            db,
            clock,
            quzhou,
            ent_svc.NewEnterprise(code[:-1] + ("0" if code[-1] != "0" else "1"), "x", "330802"),
        ),
    )
    await refused(
        db,
        E.REGION_OUT_OF_SCOPE,
        lambda: ent_svc.register_enterprise(
            db, clock, quzhou, ent_svc.NewEnterprise(fresh_credit_code(), "湖州某公司", "3305")
        ),
    )
    changed = await ent_svc.update_enterprise(
        db, clock, quzhou, ent.id, 1, ent_svc.EnterpriseChange(contact_phone="13800000000")
    )
    assert (changed.contact_phone, changed.contact_name, changed.version) == (
        "13800000000",
        "王经理",
        2,
    )
    # An enterprise user bound to it.
    user = await svc.create_account(
        db,
        clock,
        quzhou,
        svc.NewAccount(
            unique("ent"),
            "衢州某材料公司",
            svc.AccountBinding(Role.ENTERPRISE, enterprise_id=ent.id),
        ),
    )
    assert user.enterprise_id == ent.id and user.region_code is None

    operator = Operator("operator:test")
    code2 = fresh_credit_code()
    rows = [
        ent_svc.ImportRow(
            1, ent_svc.NewEnterprise(code2, "新企业", "330803", None, "0570-7654321")
        ),
        ent_svc.ImportRow(2, ent_svc.NewEnterprise("not-a-code", "坏行", "330803")),
        ent_svc.ImportRow(
            3, ent_svc.NewEnterprise(code, "衢州某材料公司", "330802", "王经理", "13800000000")
        ),
        ent_svc.ImportRow(4, ent_svc.NewEnterprise(fresh_credit_code(), "无此地区", "339999")),
        ent_svc.ImportRow(5, ent_svc.NewEnterprise(code2, "重复", "330803")),
    ]
    before = await audit_count(db)
    report = await ent_svc.import_enterprises(db, clock, operator, rows)
    assert (report.created, report.updated, report.unchanged) == (1, 0, 1)
    assert [(line, err.code) for line, _, err in report.rejected] == [
        (2, E.INVALID_CREDIT_CODE),
        (4, E.REGION_NOT_FOUND),
        (5, E.CREDIT_CODE_TAKEN),
    ]
    assert await audit_count(db) == before + 1
    again = await ent_svc.import_enterprises(db, clock, operator, rows[:1])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    renamed = [ent_svc.ImportRow(1, ent_svc.NewEnterprise(code2, "新企业（更名）", "330803"))]
    third = await ent_svc.import_enterprises(db, clock, operator, renamed)
    assert (third.created, third.updated) == (0, 1)
    assert await audit_count(db) == before + 2


async def test_the_audit_log_is_append_only(db: Database, clock: FrozenClock) -> None:
    async with db.system_transaction() as conn:
        await append(
            conn,
            now=clock.now(),
            actor=Operator("operator:test"),
            action=AuditAction.ACCOUNT_UPDATED,
            object_kind=AuditObject.ACCOUNT,
            object_id=None,
            region_code="33",
        )
        await conn.commit()
    assert await audit_count(db) > 0
    for engine in (db.engine, db.system, db.admin):
        for sql in ("UPDATE audit_log SET actor_name = 'x'", "DELETE FROM audit_log"):
            async with engine.connect() as conn:
                with pytest.raises(DBAPIError):
                    await conn.execute(sa.text(sql))
