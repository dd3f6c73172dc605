"""Channel systems' service accounts administered through GraphQL over HTTP (#13):
``createChannelAccount`` and ``rotateChannelSecret`` in the ADMIN's own subtree, audited;
the secret shown once; a rotation and a deactivation stop the old secret and every token
issued under it at once, in every API process; channel accounts in ``accounts(filter)``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.settings import Settings
from tests.api.channel_helpers import ChannelApi, NewCredentials, token_response
from tests.api.issue_helpers import key
from tests.api.test_accounts_api import (
    AUDIT,
    DEACTIVATE,
    UPDATE,
    audit_total,
    city_admin,
    create,
    staff,
    unique,
)
from tests.api.test_query_counts import counting
from tests.conftest import Api
from tests.live import live_server, until
from tests.scope import ScopeCase, ScopeVisibilityMixin

CREATE_CHANNEL = """mutation($input: CreateChannelAccountInput!) {
  createChannelAccount(input: $input) {
    account { id username displayName role channel active version region { code } }
    clientId clientSecret errors { code field message } } }"""
ROTATE = """mutation($input: RotateChannelSecretInput!) { rotateChannelSecret(input: $input) {
  account { id version } clientId clientSecret errors { code field message } } }"""
VIEWER = "{ viewer { username role } }"


async def create_channel(
    api: Api, who: str, channel: str = "HOTLINE_12345", region: str = "330802", **more: Any
) -> dict[str, Any]:
    variables = {"input": {"channel": channel, "regionCode": region, "name": "柯城区12345热线"}}
    variables["input"].update(more)
    payload: dict[str, Any] = (await api.gql(CREATE_CHANNEL, variables, as_=who))[
        "createChannelAccount"
    ]
    return payload


def creds_of(payload: dict[str, Any]) -> NewCredentials:
    assert payload["errors"] == [], payload
    account_id = payload["account"]["id"]
    return NewCredentials(payload["clientId"], payload["clientSecret"], account_id)


async def rotate(api: Api, who: str, account_id: str, **more: Any) -> dict[str, Any]:
    data = await api.gql(ROTATE, {"input": {"accountId": account_id, **more}}, as_=who)
    payload: dict[str, Any] = data["rotateChannelSecret"]
    return payload


@pytest.fixture
async def capi(api: Api, settings: Settings) -> ChannelApi:
    return ChannelApi(api, settings)


async def test_a_city_admin_makes_a_channel_account_in_its_subtree_only(
    capi: ChannelApi,
) -> None:
    quzhou = await city_admin(capi)
    before = await audit_total(capi)
    made = await create_channel(capi, quzhou, idempotencyKey=(k := key()))
    creds = creds_of(made)
    account = made["account"]
    assert account["role"] == "CHANNEL" and account["channel"] == "HOTLINE_12345"
    assert account["region"] == {"code": "330802"} and account["username"] == creds.client_id
    assert creds.client_id.startswith("hotline-12345-330802-") and len(creds.client_secret) > 40
    # The client signs in with what it was shown, and is the account made.
    token = await capi.sign_in(creds)
    viewer = await capi.post(VIEWER, headers={"Authorization": f"Bearer {token}"})
    assert viewer.json()["data"]["viewer"] == {"username": creds.client_id, "role": "CHANNEL"}
    # A replay answers the same account, never the secret again.
    again = await create_channel(capi, quzhou, idempotencyKey=k)
    assert again["account"]["id"] == account["id"] and again["clientId"] == creds.client_id
    assert again["clientSecret"] is None and again["errors"] == []
    # Audited once, the channel named, no secret anywhere in it.
    assert await audit_total(capi) == before + 1
    entries = (await capi.gql(AUDIT, {"f": {"objectId": account["id"]}}, as_=quzhou))["auditLog"]
    (entry,) = entries["nodes"]
    assert entry["action"] == "ACCOUNT_CREATED" and entry["actorName"] == quzhou
    assert entry["after"]["channel"] == "HOTLINE_12345"
    assert creds.client_secret not in str(entry)
    # Outside its subtree (湖州), above it, in a region that does not exist: typed, nothing
    # written, nothing audited.
    for region, code in (
        ("3305", "REGION_OUT_OF_SCOPE"),
        ("33", "REGION_OUT_OF_SCOPE"),
        ("339999", "REGION_NOT_FOUND"),
        ("33x", "INVALID_REGION_CODE"),
    ):
        refused = await create_channel(capi, quzhou, region=region)
        assert refused["account"] is None and refused["clientSecret"] is None
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, "regionCode")]
    blank = await create_channel(capi, quzhou, name=" ")
    assert [e["code"] for e in blank["errors"]] == ["REQUIRED"]
    # Roles that administer nothing learn nothing.
    denied = await create_channel(capi, "deqing.center")
    assert [e["code"] for e in denied["errors"]] == ["PERMISSION_DENIED"]
    assert await audit_total(capi) == before + 1
    # English messages too.
    english = await capi.post(
        CREATE_CHANNEL,
        {"input": {"channel": "HOTLINE_12345", "regionCode": "3305", "name": "x"}},
        as_=quzhou,
        headers={"Accept-Language": "en"},
    )
    (error,) = english.json()["data"]["createChannelAccount"]["errors"]
    assert error["message"] == "The region is outside the part of the tree you administer"
    # createAccount makes no CHANNEL account (it would have no credentials), and a channel
    # account's binding stays.
    plain = await create(
        capi, quzhou, username=unique("ch"), displayName="x", binding=staff("CHANNEL", "330802")
    )
    assert [(e["code"], e["field"]) for e in plain["errors"]] == [
        ("CHANNEL_ACCOUNT_RESERVED", "role")
    ]
    moved = await capi.gql(
        UPDATE,
        {"input": {"id": account["id"], "binding": staff("CENTER_STAFF", "330802")}},
        as_=quzhou,
    )
    assert [e["code"] for e in moved["updateAccount"]["errors"]] == ["CHANNEL_ACCOUNT_RESERVED"]


async def test_a_rotation_stops_the_old_secret_and_its_tokens_at_once(
    capi: ChannelApi,
) -> None:
    quzhou = await city_admin(capi)
    huzhou = await city_admin(capi, "3305")
    creds = creds_of(await create_channel(capi, quzhou))
    old_token = await capi.sign_in(creds)
    bearer = {"Authorization": f"Bearer {old_token}"}
    assert (await capi.post(VIEWER, headers=bearer)).status_code == 200
    # The verifier now holds the old token as verified: it must not keep it alive.
    runtime = capi.client._transport.app.state.runtime  # type: ignore[attr-defined]
    assert any(c.get("sub") == creds.client_id for c in runtime.verifier._verified.values())
    before = await audit_total(capi)
    # Out of scope answers like missing; a version that moved on is a conflict.
    hidden = await rotate(capi, huzhou, creds.account_id)
    missing = await rotate(capi, huzhou, "QWNjb3VudDo5ODc2NTQzMjE")
    assert hidden["errors"] == missing["errors"]
    assert [e["code"] for e in hidden["errors"]] == ["NOT_FOUND"]
    stale = await rotate(capi, quzhou, creds.account_id, expectedVersion=7)
    assert [e["code"] for e in stale["errors"]] == ["VERSION_CONFLICT"]
    not_channel = await rotate(capi, "admin", await _account_id(capi, quzhou))
    assert [e["code"] for e in not_channel["errors"]] == ["NOT_A_CHANNEL_ACCOUNT"]
    assert await audit_total(capi) == before
    rotated = await rotate(capi, quzhou, creds.account_id, expectedVersion=1, idempotencyKey=key())
    assert rotated["errors"] == [] and rotated["account"]["version"] == 2
    assert rotated["clientId"] == creds.client_id
    assert rotated["clientSecret"] not in (None, creds.client_secret)
    # The token it held stops at its next request; the old secret gets no new one.
    assert (await capi.post(VIEWER, headers=bearer)).status_code == 401
    assert (await token_response(capi, creds)).status_code == 401
    renewed = NewCredentials(creds.client_id, rotated["clientSecret"], creds.account_id)
    new_token = await capi.sign_in(renewed)
    ok = await capi.post(VIEWER, headers={"Authorization": f"Bearer {new_token}"})
    assert ok.status_code == 200
    # Audited: who, and which version; never the secret.
    entries = await capi.gql(
        AUDIT, {"f": {"objectId": creds.account_id, "action": "CHANNEL_SECRET_ROTATED"}}, as_=quzhou
    )
    (entry,) = entries["auditLog"]["nodes"]
    assert entry["actorName"] == quzhou and entry["before"] == {"version": 1}
    assert entry["after"]["version"] == 2
    assert rotated["clientSecret"] not in str(entry)
    assert await audit_total(capi) == before + 1


async def test_a_rotation_and_a_deactivation_reach_every_api_process(
    capi: ChannelApi, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    quzhou = await city_admin(capi)
    creds = creds_of(await create_channel(capi, quzhou))
    async with (
        live_server(settings, db, clock) as other,
        httpx.AsyncClient(base_url=other.url) as client,
    ):
        await until(lambda: other.runtime.bus is not None and other.runtime.bus.connected)

        async def token() -> str:
            response = await token_response(Api(client, settings), creds)
            assert response.status_code == 200, response.text
            value: str = response.json()["access_token"]
            return value

        async def status(token: str) -> int:
            bearer = {"Authorization": f"Bearer {token}"}
            response = await client.post("/graphql", json={"query": VIEWER}, headers=bearer)
            return response.status_code

        held = await token()
        assert await status(held) == 200
        await until(lambda: creds.client_id in other.runtime.principals)
        rotated = await rotate(capi, quzhou, creds.account_id)
        # The other process forgets the account when its NOTIFY arrives, and the token
        # issued under the old secret stops working there too.
        await until(lambda: creds.client_id not in other.runtime.principals)
        assert await status(held) == 401
        creds = NewCredentials(creds.client_id, rotated["clientSecret"], creds.account_id)
        held = await token()
        assert await status(held) == 200
        await until(lambda: creds.client_id in other.runtime.principals)
        # Deactivated through deactivateAccount: no new token, and the one it holds
        # stops at its next request, in this process and the other.
        out = await capi.gql(DEACTIVATE, {"input": {"id": creds.account_id}}, as_=quzhou)
        assert out["deactivateAccount"]["errors"] == []
        await until(lambda: creds.client_id not in other.runtime.principals)
        assert await status(held) == 401
        refused = await token_response(Api(client, settings), creds)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert (await capi.post(VIEWER, headers={"Authorization": f"Bearer {held}"})).status_code == 401


async def _account_id(api: Api, username: str) -> str:
    query = """query($p: String) { accounts(filter: {usernamePrefix: $p}) { nodes { id } } }"""
    (node,) = (await api.gql(query, {"p": username}, as_="admin"))["accounts"]["nodes"]
    found: str = node["id"]
    return found


LIST = """query($f: AccountFilterInput, $first: Int) { accounts(filter: $f, first: $first) {
  totalCount nodes { id username role channel region { code } } } }"""


async def test_channel_accounts_are_listed_with_their_channel(
    capi: ChannelApi, db: Database
) -> None:
    lishui = await city_admin(capi, "3311")
    made = []
    for n, channel in enumerate(["HOTLINE_12345", "ONLINE_PORTAL", "GOOD_BAD_REVIEW"] * 3):
        region = ("331102", "331121")[n % 2]
        made.append(creds_of(await create_channel(capi, lishui, channel, region)))
    data = await capi.gql(LIST, {"f": {"role": "CHANNEL", "regionWithin": "3311"}}, as_=lishui)
    page = data["accounts"]
    assert page["totalCount"] == 9
    assert {n["username"] for n in page["nodes"]} == {c.client_id for c in made}
    assert sorted(n["channel"] for n in page["nodes"])[:3] == ["GOOD_BAD_REVIEW"] * 3
    only = await capi.gql(
        LIST, {"f": {"channel": "ONLINE_PORTAL", "regionWithin": "3311"}}, as_=lishui
    )
    assert {n["username"] for n in only["accounts"]["nodes"]} == {c.client_id for c in made[1::3]}
    # Staff accounts have no channel.
    mine = await capi.gql(LIST, {"f": {"usernamePrefix": lishui}}, as_="admin")
    assert [n["channel"] for n in mine["accounts"]["nodes"]] == [None]
    # A fixed number of statements whatever the page's size (the channels in one batch).
    runtime = capi.client._transport.app.state.runtime  # type: ignore[attr-defined]
    variables: dict[str, Any] = {"f": {"role": "CHANNEL", "regionWithin": "3311"}}

    async def statements(first: int) -> int:
        for _ in range(3):
            await capi.gql(LIST, {**variables, "first": first}, as_=lishui)
            if lishui in runtime.principals:
                break
        with counting(db) as seen:
            data = await capi.gql(LIST, {**variables, "first": first}, as_=lishui)
        assert len(data["accounts"]["nodes"]) == first
        return len(seen)

    small, large = await statements(2), await statements(9)
    assert small == large and large <= 4


class TestChannelAccountScope(ScopeVisibilityMixin):
    """A channel account is listed and found by ADMINs of its subtree only."""

    list_query = """{ accounts(first: 100, filter: {role: CHANNEL}) { nodes { id } } }"""
    list_path = ("accounts",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        quzhou = await city_admin(api)
        huzhou = await city_admin(api, "3305")
        account = creds_of(await create_channel(api, quzhou)).account_id
        theirs = creds_of(await create_channel(api, huzhou, region="330521")).account_id
        return [
            ScopeCase(account, quzhou, huzhou),
            ScopeCase(account, "admin", "deqing.center"),
            ScopeCase(theirs, huzhou, quzhou),
        ]
