"""First sign-in through the external identity provider (企业码 / 浙里办 OIDC): an account
from the token's claims, when none is named yet.

- An enterprise user: the token carries a unified social credit code
  (``idp_credit_code_claim``). A code that is not valid refuses the sign-in. The
  enterprise is looked up in the registry; when unknown, it is registered on the spot with
  the name (``idp_enterprise_name_claim``) and region (``idp_region_claim``) the token
  carries. The account (role ENTERPRISE) is bound to it.
- Staff: never from claims alone, unless ``idp_provision_staff`` is on; then the token's
  role (``idp_role_claim``, one of ``idp_staff_roles``) and region (``idp_region_claim``).

Registration and account creation are the administration services' own
(``closedloop.services.accounts``: the same checks, each audited), acting as the operator
"identity provider"; the sign-in that provisioned the account is appended to the audit log
with the claims it used. Every refusal is ``SignInRefused`` with a plain message (HTTP 401)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from closedloop import i18n
from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError, AccountErrorCode
from closedloop.domain.clock import Clock
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.services.accounts import audit
from closedloop.services.accounts.accounts import AccountBinding, NewAccount, create_account
from closedloop.services.accounts.enterprises import NewEnterprise, register_enterprise
from closedloop.services.accounts.unit import Operator
from closedloop.services.issues.records import enterprise_by_credit_code
from closedloop.settings import Settings

IDENTITY_PROVIDER = Operator("identity provider")


class SignInRefused(Exception):
    """The token is valid but names no usable account (HTTP 401, this message)."""


def _text(claims: dict[str, Any], claim: str) -> str | None:
    value = claims.get(claim)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SignInRefused(f"token claim '{claim}' is not a non-empty string")
    return value.strip()


async def provision(
    db: Database, clock: Clock, settings: Settings, claims: dict[str, Any], name: str
) -> bool:
    """Creates the account ``name`` from ``claims``; False when ``name`` exists already
    (inactive, or created meanwhile by a concurrent first request)."""
    async with db.system_transaction() as conn:
        taken = await conn.execute(sa.select(t.account.c.id).where(t.account.c.username == name))
        if taken.first() is not None:
            return False
    code_claim = settings.idp_credit_code_claim
    raw_code = _text(claims, code_claim)
    if raw_code is not None:
        try:
            code = normalize_credit_code(raw_code)
        except InvalidCreditCode as exc:
            raise SignInRefused(
                f"token claim '{code_claim}' is not a valid unified social credit code "
                f"({raw_code}: {exc.reason})"
            ) from None
        binding, region, registered = await _enterprise(db, clock, settings, claims, code)
        evidence = {"creditCode": code, "enterpriseRegistered": registered}
    elif settings.idp_provision_staff and settings.idp_role_claim in claims:
        binding, region = _staff(settings, claims)
        evidence = {"role": binding.role.value, "regionCode": region}
    else:
        raise SignInRefused(
            f"no account '{name}', and the token carries no enterprise credit code (claim "
            f"'{code_claim}'); staff accounts are created by an administrator"
        )
    display = _text(claims, settings.idp_name_claim) or name
    try:
        account = await create_account(
            db, clock, IDENTITY_PROVIDER, NewAccount(name, display, binding)
        )
    except AccountError as exc:
        if exc.code is AccountErrorCode.USERNAME_TAKEN:
            return False
        reason = exc.message(i18n.EN)
        raise SignInRefused(f"no account can be made from the token's claims: {reason}") from None
    async with db.system_transaction() as conn:
        await audit.append(
            conn,
            now=clock.now(),
            actor=IDENTITY_PROVIDER,
            action=audit.AuditAction.PROVISIONED_SIGN_IN,
            object_kind=audit.AuditObject.ACCOUNT,
            object_id=account.id,
            region_code=region,
            after={"issuer": claims["iss"], "account": name, **evidence},
        )
        await conn.commit()
    return True


async def _enterprise(
    db: Database, clock: Clock, settings: Settings, claims: dict[str, Any], code: str
) -> tuple[AccountBinding, str, bool]:
    """The binding to the enterprise of ``code``, registered now when unknown; its region;
    whether it was registered now."""
    async with db.system_transaction() as conn:
        known = await enterprise_by_credit_code(conn, code)
    registered = False
    if known is None:
        region_claim, name_claim = settings.idp_region_claim, settings.idp_enterprise_name_claim
        region = _text(claims, region_claim)
        ent_name = _text(claims, name_claim)
        if region is None or ent_name is None:
            missing = region_claim if region is None else name_claim
            raise SignInRefused(
                f"enterprise {code} is not registered and the token carries no "
                f"{'region' if region is None else 'enterprise name'} (claim '{missing}')"
            )
        try:
            known = await register_enterprise(
                db, clock, IDENTITY_PROVIDER, NewEnterprise(code, ent_name, region)
            )
            registered = True
        except AccountError as exc:
            if exc.code is not AccountErrorCode.CREDIT_CODE_TAKEN:
                raise SignInRefused(
                    f"enterprise {code} cannot be registered from the token's claims: "
                    f"{exc.message(i18n.EN)}"
                ) from None
            async with db.system_transaction() as conn:  # registered meanwhile
                known = await enterprise_by_credit_code(conn, code)
            if known is None:
                raise SignInRefused(f"enterprise {code} cannot be registered") from None
    return AccountBinding(Role.ENTERPRISE, enterprise_id=known.id), known.region_code, registered


def _staff(settings: Settings, claims: dict[str, Any]) -> tuple[AccountBinding, str]:
    role_claim, region_claim = settings.idp_role_claim, settings.idp_region_claim
    role = _text(claims, role_claim)
    region = _text(claims, region_claim)
    if role not in settings.idp_staff_roles:
        raise SignInRefused(f"token claim '{role_claim}' names no role provisioned from claims")
    if region is None:
        raise SignInRefused(f"token carries no region (claim '{region_claim}')")
    return AccountBinding(Role(role), region_code=region), region
