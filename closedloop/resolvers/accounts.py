"""Root fields of identity administration: ``accounts``, ``enterprises``, ``auditLog``
(connections with ``totalCount``, newest first, in the caller's scope) and the
mutations (one module each in ``closedloop.resolvers.mutations``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from closedloop.resolvers.fields import signed_in_mutation
from closedloop.resolvers.mutations import (
    create_account,
    create_channel_account,
    deactivate_account,
    register_enterprise,
    rotate_channel_secret,
    update_account,
    update_enterprise,
)
from closedloop.schema.accounts import (
    Account,
    AccountFilterInput,
    AccountPayload,
    AuditEntry,
    AuditLogFilterInput,
    EnterpriseFilterInput,
    EnterprisePayload,
)
from closedloop.schema.channel_accounts import ChannelCredentialsPayload
from closedloop.schema.context import Info
from closedloop.schema.enterprises import Enterprise
from closedloop.schema.evaluation.args import check_region
from closedloop.schema.paging import as_id, as_int_id, paging
from closedloop.schema.payloads import unit_pk
from closedloop.schema.relay import Connection, encode_cursor, from_global_id, make_connection
from closedloop.services.accounts import audit as audit_service
from closedloop.services.accounts import queries
from closedloop.services.accounts.audit import AuditObject

T = TypeVar("T")
R = TypeVar("R")


async def _page(
    info: Info,
    first: int | None,
    after: str | None,
    parse: Callable[[str], int | None],
    fetch: Callable[[Any, int, int | None], Awaitable[tuple[list[R], int]]],
    convert: Callable[[R], T],
    key: Callable[[R], int],
) -> Connection[T]:
    size, before_id = paging(info.context.locale, first, after, parse)
    p = info.context.principal
    if p.is_anonymous:
        return make_connection([], [], size, 0, after=after is not None)
    # Through the request's one connection, like the issue lists and every loader batch.
    async with info.context.loaders.reader.use() as conn:
        rows, total = await fetch(conn, size + 1, before_id)
    return make_connection(
        [convert(r) for r in rows],
        [encode_cursor(str(key(r))) for r in rows],
        size,
        total,
        after=after is not None,
    )


def _region_arg(info: Info, code: str | None, field: str) -> str | None:
    if code is not None:
        check_region(info, code, field)
    return code


@strawberry.type
class AccountQuery:
    @strawberry.field(description="账号列表（管理范围内）/ accounts the caller administers")
    async def accounts(
        self,
        info: Info,
        filter: AccountFilterInput | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[Account]:
        f = filter or AccountFilterInput()
        p = info.context.principal
        cmd = queries.AccountFilter(
            role=f.role,
            channel=f.channel.value if f.channel is not None else None,
            region_within=_region_arg(info, f.region_within, "filter.regionWithin"),
            enterprise_id=unit_pk(f.enterprise_id, "Enterprise"),
            active=f.active,
            username_prefix=f.username_prefix,
        )
        return await _page(
            info,
            first,
            after,
            as_int_id,
            lambda conn, limit, before: queries.list_accounts(conn, p, cmd, limit, before),
            Account.from_record,
            lambda r: r.id,
        )

    @strawberry.field(description="企业列表（可见范围内）/ enterprises in the caller's scope")
    async def enterprises(
        self,
        info: Info,
        filter: EnterpriseFilterInput | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[Enterprise]:
        f = filter or EnterpriseFilterInput()
        p = info.context.principal
        cmd = queries.EnterpriseFilter(
            region_within=_region_arg(info, f.region_within, "filter.regionWithin"),
            credit_code=f.credit_code.strip().upper() if f.credit_code else None,
            name_contains=f.name_contains,
        )
        return await _page(
            info,
            first,
            after,
            as_int_id,
            lambda conn, limit, before: queries.list_enterprises(conn, p, cmd, limit, before),
            Enterprise.from_record,
            lambda r: r.id,
        )

    @strawberry.field(description="审计日志（管理员、省级监测员，范围内）/ the audit log in scope")
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilterInput | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        f = filter or AuditLogFilterInput()
        p = info.context.principal
        kind, object_id = f.object_kind, None
        if f.object_id is not None:
            # An Account or Enterprise id names its kind too; any other id matches nothing.
            decoded = from_global_id(f.object_id)
            kind_of = {"Account": AuditObject.ACCOUNT, "Enterprise": AuditObject.ENTERPRISE}
            named = kind_of.get(decoded[0]) if decoded is not None else None
            object_id = int(decoded[1]) if named is not None and decoded is not None else -1
            if named is not None and kind not in (None, named):
                object_id = -1
            kind = named or kind
        cmd = audit_service.AuditFilter(
            action=f.action,
            object_kind=kind,
            object_id=object_id,
            region_within=_region_arg(info, f.region_within, "filter.regionWithin"),
        )
        return await _page(
            info,
            first,
            after,
            as_id,
            lambda conn, limit, before: audit_service.list_entries(conn, p, cmd, limit, before),
            AuditEntry.from_record,
            lambda r: r.id,
        )


@strawberry.type
class AccountMutation:
    create_account: AccountPayload = signed_in_mutation(
        create_account, "创建账号 / create an account"
    )
    update_account: AccountPayload = signed_in_mutation(
        update_account, "修改账号 / change an account"
    )
    deactivate_account: AccountPayload = signed_in_mutation(
        deactivate_account, "停用账号（立即生效）/ deactivate an account, at once"
    )
    register_enterprise: EnterprisePayload = signed_in_mutation(
        register_enterprise, "登记企业 / register an enterprise"
    )
    update_enterprise: EnterprisePayload = signed_in_mutation(
        update_enterprise, "修改企业信息 / change an enterprise"
    )
    create_channel_account: ChannelCredentialsPayload = signed_in_mutation(
        create_channel_account,
        "创建渠道服务账号（密钥仅显示一次）/ a channel system's account; its secret shown once",
    )
    rotate_channel_secret: ChannelCredentialsPayload = signed_in_mutation(
        rotate_channel_secret, "更换渠道密钥（旧密钥与令牌立即失效）/ a new channel secret"
    )
