"""Channel systems in tests: service accounts made through the service, tokens through the
token endpoint (client credentials), GraphQL calls with those tokens."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.services.accounts.unit import Operator
from closedloop.services.channels.clients import (
    ChannelCredentials,
    NewChannelAccount,
    create_channel_account,
)
from closedloop.settings import Settings
from tests.conftest import Api

PUSH = """mutation($input: SubmitChannelIssuesInput!) { submitChannelIssues(input: $input) {
  created alreadySubmitted rejected errors { code }
  results { index recordId outcome issue { id state channel } errors { code field message } } } }"""


@dataclass(frozen=True, slots=True)
class NewCredentials:
    """What a channel system holds: its client id and secret (and, for the tests, its
    account's id)."""

    client_id: str
    client_secret: str
    account_id: int


OPERATOR = Operator("tests")


def credentials(made: ChannelCredentials) -> NewCredentials:
    assert made.client_secret is not None
    return NewCredentials(made.client_id, made.client_secret, made.account.id)


async def new_channel(
    db: Database, clock: Clock, channel: str = "HOTLINE_12345", region: str = "330521"
) -> NewCredentials:
    cmd = NewChannelAccount(channel, region, f"{region} {channel}")
    return credentials(await create_channel_account(db, clock, OPERATOR, cmd))


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def token_response(api: Api, creds: NewCredentials) -> httpx.Response:
    return await api.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic(creds.client_id, creds.client_secret),
        },
    )


class ChannelApi(Api):
    """Signs channel accounts in with their own tokens, everyone else with dev tokens."""

    def __init__(self, api: Api, settings: Settings) -> None:
        super().__init__(api.client, settings)
        self.channel_tokens: dict[str, str] = {}

    async def sign_in(self, creds: NewCredentials) -> str:
        response = await token_response(self, creds)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        self.channel_tokens[creds.client_id] = token
        return token

    def token(self, username: str) -> str:
        return self.channel_tokens.get(username) or super().token(username)

    async def push(self, creds: NewCredentials, records: list[dict[str, Any]]) -> dict[str, Any]:
        data = await self.gql(PUSH, {"input": {"records": records}}, as_=creds.client_id)
        result: dict[str, Any] = data["submitChannelIssues"]
        return result
