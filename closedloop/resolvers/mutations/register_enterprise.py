"""``registerEnterprise``: an ADMIN registers an enterprise of its subtree, known by its
validated unified social credit code."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import EnterprisePayload, RegisterEnterpriseInput, account_errors
from closedloop.schema.context import Info
from closedloop.schema.enterprises import Enterprise
from closedloop.services.accounts import enterprises


async def resolve(info: Info, input: RegisterEnterpriseInput) -> EnterprisePayload:
    ctx = info.context
    new = enterprises.NewEnterprise(
        credit_code=input.credit_code,
        name=input.name,
        region_code=input.region_code,
        contact_name=input.contact_name,
        contact_phone=input.contact_phone,
    )
    try:
        rec = await enterprises.register_enterprise(
            ctx.db, ctx.clock, ctx.principal, new, input.idempotency_key
        )
    except AccountError as exc:
        return EnterprisePayload(enterprise=None, errors=account_errors(info, exc))
    return EnterprisePayload(enterprise=Enterprise.from_record(rec), errors=[])
