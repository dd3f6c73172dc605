"""Accounts, enterprises' administration and the audit log: types, inputs, payloads.

An ``Account`` and an ``AuditEntry`` are nodes read in the caller's scope (``account.read``,
``audit.read``); anything out of scope answers exactly like something missing. The
enterprise type is ``closedloop.schema.issues.Enterprise`` (the same object an issue
names), with its contact and version for administration.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

import strawberry
from strawberry.scalars import JSON

from closedloop import i18n
from closedloop.domain.accounts import AccountError as AccountFailure
from closedloop.domain.accounts import AccountErrorCode
from closedloop.domain.issues import Channel
from closedloop.schema.context import Info
from closedloop.schema.enterprises import Enterprise
from closedloop.schema.enums import Role
from closedloop.schema.node_registry import register_node
from closedloop.schema.payloads import UserError, unit_pk
from closedloop.schema.reference import resolve_cached
from closedloop.schema.relay import Node, to_global_id
from closedloop.schema.tenancy import Board, Department, Region
from closedloop.services.accounts.accounts import AccountBinding
from closedloop.services.accounts.audit import AuditAction, AuditObject, AuditRecord
from closedloop.services.accounts.records import AccountRecord

strawberry.enum(AccountErrorCode, name="AccountErrorCode", description="账号与企业管理错误")
strawberry.enum(AuditAction, name="AuditAction", description="审计事项 / what was changed")
strawberry.enum(AuditObject, name="AuditObject", description="审计对象 / what kind of object")


@strawberry.type(description="账号 / an account: staff (role, region[, board or department])")
class Account(Node):
    username: str
    display_name: str
    role: Role
    active: bool
    version: int = strawberry.field(description="乐观锁版本 / for expectedVersion")
    rec: strawberry.Private[AccountRecord]

    @classmethod
    def from_record(cls, rec: AccountRecord) -> Account:
        return cls(
            id=to_global_id("Account", rec.id),
            username=rec.username,
            display_name=rec.display_name,
            role=Role(rec.role),
            active=rec.active,
            version=rec.version,
            rec=rec,
        )

    @strawberry.field
    def role_label(self, info: Info) -> str:
        return i18n.label(self.role, info.context.locale, "Role")

    @strawberry.field(
        description="所在地区（企业用户为空：见 enterprise）/ a staff account's region"
    )
    def region(self, info: Info) -> Region | None:
        if self.rec.region_code is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "region", self.rec.region_code, lambda: info.context.loaders.region, Region.from_record
        )

    @strawberry.field
    def board(self, info: Info) -> Board | None:
        if self.rec.board_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "board", self.rec.board_id, lambda: info.context.loaders.board, Board.from_record
        )

    @strawberry.field
    def department(self, info: Info) -> Department | None:
        if self.rec.department_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "department",
            self.rec.department_id,
            lambda: info.context.loaders.department,
            Department.from_record,
        )

    @strawberry.field(description="渠道服务账号的渠道 / a channel system's channel")
    async def channel(self, info: Info) -> Channel | None:
        if self.rec.role != Role.CHANNEL.value:
            return None
        found = await info.context.loaders.account_channel.load(self.rec.id)
        return Channel(found) if found is not None else None

    @strawberry.field(description="企业用户所属企业 / an enterprise user's enterprise")
    def enterprise(self, info: Info) -> Enterprise | None:
        if self.rec.enterprise_id is None:
            return None
        return resolve_cached(  # type: ignore[return-value]
            "enterprise",
            self.rec.enterprise_id,
            lambda: info.context.loaders.enterprise,
            Enterprise.from_record,
        )


@strawberry.type(description="审计日志中的一条 / one administrative change")
class AuditEntry(Node):
    occurred_at: dt.datetime
    actor_name: str = strawberry.field(description="操作人 / who (a username or an operator)")
    action: AuditAction
    object_kind: AuditObject
    object_id: strawberry.ID | None = strawberry.field(description="被修改对象的全局 ID")
    region_code: str
    before: JSON | None = strawberry.field(description="修改前 / before (null: created)")
    after: JSON | None = strawberry.field(description="修改后 / after")

    @classmethod
    def from_record(cls, rec: AuditRecord) -> AuditEntry:
        type_name = {
            AuditObject.ACCOUNT: "Account",
            AuditObject.ENTERPRISE: "Enterprise",
            AuditObject.TIME_LIMIT_RULE: "TimeLimitRule",
            AuditObject.WEBHOOK_ENDPOINT: "WebhookEndpoint",
            AuditObject.SCORING_SCHEME: "ScoringSchemeVersion",
        }[AuditObject(rec.object_kind)]
        return cls(
            id=to_global_id("AuditEntry", rec.id),
            occurred_at=rec.occurred_at,
            actor_name=rec.actor_name,
            action=AuditAction(rec.action),
            object_kind=AuditObject(rec.object_kind),
            object_id=to_global_id(type_name, rec.object_id) if rec.object_id else None,
            region_code=rec.region_code,
            before=cast(JSON, rec.before),
            after=cast(JSON, rec.after),
        )

    @strawberry.field
    def action_label(self, info: Info) -> str:
        return i18n.label(self.action, info.context.locale, "AuditAction")


@strawberry.type(description="账号与企业管理错误 / an administration error")
class AccountError(UserError):
    code: AccountErrorCode


def account_errors(info: Info, exc: AccountFailure) -> list[AccountError]:
    return [AccountError(code=exc.code, message=exc.message(info.context.locale), field=exc.field)]


# --- inputs and payloads (here, after the enums are registered) -----------------------


@strawberry.input(description="账号绑定：工作人员为角色+地区[+板块或部门]，企业用户为企业")
class AccountBindingInput:
    role: Role
    region_code: str | None = None
    board_id: strawberry.ID | None = None
    department_id: strawberry.ID | None = None
    enterprise_id: strawberry.ID | None = None


def to_binding(b: AccountBindingInput) -> AccountBinding:
    """The binding with its ids decoded (-1: a malformed id, which names nothing)."""
    return AccountBinding(
        role=b.role,
        region_code=b.region_code.strip() if b.region_code is not None else None,
        board_id=unit_pk(b.board_id, "Board"),
        department_id=unit_pk(b.department_id, "Department"),
        enterprise_id=unit_pk(b.enterprise_id, "Enterprise"),
    )


@strawberry.input
class CreateAccountInput:
    username: str
    display_name: str
    binding: AccountBindingInput
    idempotency_key: str | None = None


@strawberry.input
class UpdateAccountInput:
    id: strawberry.ID
    expected_version: int | None = None
    display_name: str | None = None
    binding: AccountBindingInput | None = strawberry.field(
        default=None, description="整体替换 / replaces the whole binding"
    )
    active: bool | None = strawberry.field(default=None, description="true: 重新启用 / reactivate")
    idempotency_key: str | None = None


@strawberry.input
class DeactivateAccountInput:
    id: strawberry.ID
    expected_version: int | None = None
    idempotency_key: str | None = None


@strawberry.type(description="账号管理结果 / the result of an account mutation")
class AccountPayload:
    account: Account | None
    errors: list[AccountError]


@strawberry.input
class RegisterEnterpriseInput:
    credit_code: str = strawberry.field(description="统一社会信用代码")
    name: str
    region_code: str = strawberry.field(description="登记地 / where it is registered")
    contact_name: str | None = None
    contact_phone: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateEnterpriseInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = None
    region_code: str | None = None
    contact_name: str | None = strawberry.field(default=None, description='"" clears it')
    contact_phone: str | None = strawberry.field(default=None, description='"" clears it')
    idempotency_key: str | None = None


@strawberry.type(description="企业管理结果 / the result of an enterprise mutation")
class EnterprisePayload:
    enterprise: Enterprise | None
    errors: list[AccountError]


@strawberry.input
class AccountFilterInput:
    role: Role | None = None
    channel: Channel | None = strawberry.field(
        default=None, description="渠道服务账号的渠道 / channel accounts of this channel"
    )
    region_within: str | None = None
    enterprise_id: strawberry.ID | None = None
    active: bool | None = None
    username_prefix: str | None = None


@strawberry.input
class EnterpriseFilterInput:
    region_within: str | None = None
    credit_code: str | None = None
    name_contains: str | None = None


@strawberry.input
class AuditLogFilterInput:
    action: AuditAction | None = None
    object_kind: AuditObject | None = None
    object_id: strawberry.ID | None = strawberry.field(
        default=None, description="一个账号或企业的全局 ID / an Account or Enterprise id"
    )
    region_within: str | None = None


# --- nodes ----------------------------------------------------------------------------


@register_node("Account")
async def _account_node(info: Info, key: str) -> Account | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.account.load(int(key))
    return Account.from_record(rec) if rec else None


@register_node("AuditEntry")
async def _audit_node(info: Info, key: str) -> AuditEntry | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.audit_entry.load(int(key))
    return AuditEntry.from_record(rec) if rec else None
