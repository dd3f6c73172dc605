"""Accounts and enterprises: look-up of the principal and creation with validation."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.domain.credit_code import normalize_credit_code
from closedloop.domain.regions import is_valid_code


class AccountError(ValueError):
    pass


# Accounts are under row-level security; authentication reads the one active account of a
# username, before any scope exists, through the function migration 0012 defines for it.
_PRINCIPAL_QUERY = sa.text(
    "SELECT id, username, display_name, role, region_code, board_id, department_id,"
    " enterprise_id, credentials FROM closedloop_principal(:username)"
)


async def principal_for(conn: AsyncConnection, username: str) -> Principal | None:
    """The principal of an active account (any role may ask: it answers one username)."""
    row = (await conn.execute(_PRINCIPAL_QUERY, {"username": username})).mappings().first()
    if row is None:
        return None
    return Principal(
        account_id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        region_code=row["region_code"],
        board_id=row["board_id"],
        department_id=row["department_id"],
        enterprise_id=row["enterprise_id"],
        credentials=row["credentials"],
    )


@dataclass(frozen=True, slots=True)
class NewEnterprise:
    credit_code: str
    name: str
    region_code: str
    contact_phone: str | None = None


async def upsert_enterprise(conn: AsyncConnection, ent: NewEnterprise) -> int:
    code = normalize_credit_code(ent.credit_code)
    if not is_valid_code(ent.region_code):
        raise AccountError(f"malformed region code {ent.region_code!r}")
    stmt = (
        pg_insert(t.enterprise)
        .values(
            credit_code=code,
            name=ent.name,
            region_code=ent.region_code,
            contact_phone=ent.contact_phone,
        )
        .on_conflict_do_update(
            index_elements=[t.enterprise.c.credit_code],
            set_={"name": ent.name, "contact_phone": ent.contact_phone},
        )
        .returning(t.enterprise.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def upsert_account(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str,
    role: Role,
    region_code: str | None = None,
    board_key: str | None = None,
    department_key: str | None = None,
    enterprise_id: int | None = None,
) -> int:
    board_id = department_id = None
    if role is Role.ENTERPRISE:
        if enterprise_id is None:
            raise AccountError("an enterprise account needs an enterprise")
        region_code = None
    elif region_code is None or not is_valid_code(region_code):
        raise AccountError("a staff account needs a valid region code")
    if board_key:
        board_id = (
            await conn.execute(
                sa.select(t.board.c.id).where(
                    t.board.c.region_code == region_code, t.board.c.key == board_key
                )
            )
        ).scalar_one_or_none()
        if board_id is None:
            raise AccountError(f"no board {board_key} in region {region_code}")
    if department_key:
        department_id = (
            await conn.execute(
                sa.select(t.department.c.id).where(
                    t.department.c.region_code == region_code,
                    t.department.c.key == department_key,
                )
            )
        ).scalar_one_or_none()
        if department_id is None:
            raise AccountError(f"no department {department_key} in region {region_code}")
    values = {
        "display_name": display_name,
        "role": role.value,
        "region_code": region_code,
        "board_id": board_id,
        "department_id": department_id,
        "enterprise_id": enterprise_id,
    }
    stmt = (
        pg_insert(t.account)
        .values(username=username, **values)
        .on_conflict_do_update(index_elements=[t.account.c.username], set_=values)
        .returning(t.account.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())
