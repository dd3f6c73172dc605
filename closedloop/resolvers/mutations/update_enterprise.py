"""``updateEnterprise``: change an enterprise's name, region or contact within the ADMIN's
subtree (its credit code is what it is: a new code is a new enterprise)."""

from __future__ import annotations

from closedloop.domain.accounts import AccountError
from closedloop.schema.accounts import EnterprisePayload, UpdateEnterpriseInput, account_errors
from closedloop.schema.context import Info
from closedloop.schema.enterprises import Enterprise
from closedloop.schema.payloads import unit_pk
from closedloop.services.accounts import enterprises


async def resolve(info: Info, input: UpdateEnterpriseInput) -> EnterprisePayload:
    ctx = info.context
    change = enterprises.EnterpriseChange(
        name=input.name,
        region_code=input.region_code,
        contact_name=input.contact_name,
        contact_phone=input.contact_phone,
    )
    try:
        rec = await enterprises.update_enterprise(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "Enterprise") or -1,
            input.expected_version,
            change,
            input.idempotency_key,
        )
    except AccountError as exc:
        return EnterprisePayload(enterprise=None, errors=account_errors(info, exc))
    ctx.enterprise_changed(rec)
    return EnterprisePayload(enterprise=Enterprise.from_record(rec), errors=[])
