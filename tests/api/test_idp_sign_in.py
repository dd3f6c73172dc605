"""Sign-in through an external identity provider (OIDC, RS256 via JWKS) with accounts made
from its claims (#13): an enterprise of the 企业码 login with a fresh credit code and no
account signs in, submits an issue and follows its timeline; its neighbour in the same town
sees nothing of it; the provider rotates its key; bad claims are a plain 401 and write
nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity import tokens
from closedloop.identity.tokens import TokenVerifier
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.settings import Settings, UnsafeSettings
from tests.api.idp_helpers import Provider, provider_fixture  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("clean_issues")

ISSUER = "https://idp.zjzwfw.example/oidc"
TOWN = "330521102"  # 新市镇
FIRST = credit_code("91330521MA2JQ1A3X")  # fresh: not registered anywhere
SECOND = credit_code("91330521MA2JQ2B4Y")
GEO = credit_code(DEMO_ENTERPRISES[0].base17)  # in the registry already (330521001)
BAD = FIRST[:-1] + ("0" if FIRST[-1] != "0" else "1")

SUBMIT = """mutation($input: SubmitIssueInput!) { submitIssue(input: $input) {
  issue { id number state enterprise { creditCode name } originRegion { code } }
  errors { code } } }"""
TRACK = """query($id: ID!) { issue(id: $id) { id state timeline { type public } } }"""
MINE = "{ viewer { role username displayName } issues(first: 10) { totalCount nodes { id } } }"


@pytest.fixture
def idp_settings(settings: Settings, provider: Provider) -> Settings:
    return settings.model_copy(
        update={
            "jwks_url": provider.url,
            "jwt_issuer": ISSUER,
            "idp_account_claim": "uid",
            "idp_credit_code_claim": "tyshxydm",
            "idp_enterprise_name_claim": "qymc",
            "idp_region_claim": "xzqh",
        }
    )


@pytest.fixture
async def client(
    idp_settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(idp_settings, database=db, clock=clock)
    app.state.runtime = Runtime(idp_settings, db, clock, TokenVerifier(idp_settings))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        yield http


def token(settings: Settings, key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    body = {"iss": ISSUER, "aud": settings.jwt_audience, "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


async def gql(
    http: httpx.AsyncClient, bearer: str, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {bearer}"},
    )


def enterprise_user(uid: str, code: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "sub": f"oidc|{uid}",
        "uid": uid,
        "name": "经办人",
        "tyshxydm": code,
        "qymc": name,
        "xzqh": TOWN,
        **extra,
    }


async def _count(db: Database, table: sa.Table, *where: Any) -> int:
    async with db.system_transaction() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def test_a_new_enterprise_signs_in_submits_and_tracks_its_issue(
    client: httpx.AsyncClient,
    idp_settings: Settings,
    provider: Provider,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k1 = provider.add_key("k1")
    first = token(idp_settings, k1, "k1", **enterprise_user("zlb-001", FIRST, "新市新材料有限公司"))
    assert await _count(db, t.enterprise, t.enterprise.c.credit_code == FIRST) == 0
    me = (await gql(client, first, MINE)).json()["data"]
    assert me["viewer"] == {"role": "ENTERPRISE", "username": "zlb-001", "displayName": "经办人"}
    submitted = (
        await gql(client, first, SUBMIT, {"input": {"title": "厂房消防验收", "content": "请协助"}})
    ).json()["data"]["submitIssue"]
    assert submitted["errors"] == []
    issue = submitted["issue"]
    assert issue["enterprise"] == {"creditCode": FIRST, "name": "新市新材料有限公司"}
    assert issue["originRegion"] == {"code": TOWN}
    tracked = (await gql(client, first, TRACK, {"id": issue["id"]})).json()["data"]["issue"]
    assert tracked["state"] == "SUBMITTED"
    assert [e["type"] for e in tracked["timeline"]] == ["SUBMITTED"]
    # A second enterprise of the same town: its own account, nothing of the first's.
    second = token(
        idp_settings, k1, "k1", **enterprise_user("zlb-002", SECOND, "新市丝绸二厂有限公司")
    )
    theirs = (await gql(client, second, MINE)).json()["data"]
    assert theirs["issues"] == {"totalCount": 0, "nodes": []}
    assert (await gql(client, second, TRACK, {"id": issue["id"]})).json()["data"] == {"issue": None}
    # The provider rotates its signing key: the new kid is fetched, the account stays.
    monkeypatch.setattr(tokens, "JWKS_REFRESH_SECONDS", 0.0)
    k2 = provider.add_key("k2")
    del provider.keys["k1"]
    rotated = token(
        idp_settings, k2, "k2", **enterprise_user("zlb-001", FIRST, "新市新材料有限公司")
    )
    again = (await gql(client, rotated, MINE)).json()["data"]
    assert again["issues"]["nodes"] == [{"id": issue["id"]}]
    # Registered once, one account each, and each sign-in that made an account audited.
    assert await _count(db, t.enterprise, t.enterprise.c.credit_code.in_([FIRST, SECOND])) == 2
    assert await _count(db, t.account, t.account.c.username.in_(["zlb-001", "zlb-002"])) == 2
    audited = await _count(db, t.audit_log, t.audit_log.c.action == "PROVISIONED_SIGN_IN")
    assert audited >= 2
    async with db.system_transaction() as conn:
        entry = (
            await conn.execute(
                sa.select(t.audit_log.c.after, t.audit_log.c.region_code).where(
                    t.audit_log.c.action == "PROVISIONED_SIGN_IN",
                    t.audit_log.c.after["account"].astext == "zlb-001",
                )
            )
        ).one()
    assert entry.region_code == TOWN
    assert entry.after == {
        "issuer": ISSUER,
        "account": "zlb-001",
        "creditCode": FIRST,
        "enterpriseRegistered": True,
    }


async def test_a_registered_enterprise_takes_its_region_from_the_registry(
    client: httpx.AsyncClient, idp_settings: Settings, provider: Provider
) -> None:
    key = provider.add_key("k1")
    claims = {"sub": "s", "uid": "zlb-geo-1", "tyshxydm": GEO}  # no name, no region
    data = (
        await gql(
            client,
            token(idp_settings, key, "k1", **claims),
            SUBMIT,
            {"input": {"title": "用地", "content": "扩产用地"}},
        )
    ).json()["data"]
    issue = data["submitIssue"]["issue"]
    assert issue["enterprise"]["creditCode"] == GEO
    assert issue["originRegion"] == {"code": DEMO_ENTERPRISES[0].region_code}


UNSEEN = credit_code("91330521MA2JQ9X8W")  # registered by no test


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (enterprise_user("zlb-bad-1", BAD, "某公司"), "not a valid unified social credit code"),
        (enterprise_user("zlb-bad-2", "not-a-code", "某公司"), "not a valid unified social"),
        (
            {"sub": "s", "uid": "zlb-bad-3", "tyshxydm": UNSEEN, "qymc": "某公司"},
            "carries no region (claim 'xzqh')",
        ),
        (
            {"sub": "s", "uid": "zlb-bad-4", "tyshxydm": UNSEEN, "xzqh": TOWN},
            "carries no enterprise name (claim 'qymc')",
        ),
        (
            enterprise_user("zlb-bad-5", UNSEEN, "某公司", xzqh="339999999"),
            "cannot be registered",
        ),
        (
            {"sub": "s", "uid": "zlb-bad-6", "role": "CENTER_STAFF", "xzqh": "330521"},
            "staff accounts are created by an administrator",
        ),
        ({"sub": "s", "uid": "zlb-bad-7", "tyshxydm": 12345}, "not a non-empty string"),
        ({"sub": "s", "uid": "", "tyshxydm": UNSEEN}, "does not name an account"),
    ],
)
async def test_claims_that_name_nothing_usable_are_401_and_write_nothing(
    client: httpx.AsyncClient,
    idp_settings: Settings,
    provider: Provider,
    db: Database,
    claims: dict[str, Any],
    message: str,
) -> None:
    key = provider.add_key("k1")
    before = (
        await _count(db, t.account),
        await _count(db, t.enterprise),
        await _count(db, t.audit_log),
    )
    response = await gql(client, token(idp_settings, key, "k1", **claims), MINE)
    assert response.status_code == 401
    assert message in response.json()["errors"][0]["message"]
    after = (
        await _count(db, t.account),
        await _count(db, t.enterprise),
        await _count(db, t.audit_log),
    )
    assert after == before


async def test_staff_come_from_claims_only_when_configured_and_never_as_admin(
    idp_settings: Settings, provider: Provider, db: Database, clock: FrozenClock
) -> None:
    staff = idp_settings.model_copy(update={"idp_provision_staff": True})
    app: Starlette = create_app(staff, database=db, clock=clock)
    app.state.runtime = Runtime(staff, db, clock, TokenVerifier(staff))
    key = provider.add_key("k1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        center = token(
            staff,
            key,
            "k1",
            sub="s",
            uid="zlb-staff-1",
            name="王五",
            role="CENTER_STAFF",
            xzqh="330521",
        )
        me = (await gql(c, center, MINE)).json()["data"]["viewer"]
        assert me == {"role": "CENTER_STAFF", "username": "zlb-staff-1", "displayName": "王五"}
        admin = token(staff, key, "k1", sub="s", uid="zlb-staff-2", role="ADMIN", xzqh="33")
        refused = await gql(c, admin, MINE)
        assert refused.status_code == 401
        assert "no role provisioned from claims" in refused.json()["errors"][0]["message"]
    assert await _count(db, t.account, t.account.c.username == "zlb-staff-2") == 0
    with pytest.raises(UnsafeSettings, match="IDP_STAFF_ROLES"):
        Settings(environment="test", idp_staff_roles=["ADMIN"]).check()
