"""Channel systems' service accounts administered through the API: ``createChannelAccount``
and ``rotateChannelSecret`` (their inputs and their one payload). A channel account is an
``Account`` (role CHANNEL, ``channel``), administered in scope like any other; its secret
appears in the answer that made it and nowhere else."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import Channel
from closedloop.schema.accounts import Account, AccountError
from closedloop.services.channels.clients import ChannelCredentials


@strawberry.input(description="新建渠道服务账号 / a channel system's service account")
class CreateChannelAccountInput:
    channel: Channel
    region_code: str = strawberry.field(
        description="受理其诉求的中心所在区划 / the region whose center takes its issues in"
    )
    name: str = strawberry.field(description="显示名称，如 湖州市12345热线 / display name")
    idempotency_key: str | None = None


@strawberry.input(description="更换渠道密钥 / a new secret for a channel system")
class RotateChannelSecretInput:
    account_id: strawberry.ID
    expected_version: int | None = None
    idempotency_key: str | None = None


@strawberry.type(
    description="渠道服务账号及其凭据；密钥仅在此显示一次 / a channel account and its"
    " credentials; the secret is shown this once"
)
class ChannelCredentialsPayload:
    account: Account | None
    client_id: str | None = strawberry.field(description="OAuth 2.0 client_id")
    client_secret: str | None = strawberry.field(
        description="OAuth 2.0 client_secret：仅此一次，仅存其散列；重放时为空 / shown once"
        " (only its hash is kept); null on an idempotent replay: rotate it"
    )
    errors: list[AccountError]

    @classmethod
    def made(cls, made: ChannelCredentials) -> ChannelCredentialsPayload:
        return cls(
            account=Account.from_record(made.account),
            client_id=made.client_id,
            client_secret=made.client_secret,
            errors=[],
        )

    @classmethod
    def failed(cls, errors: list[AccountError]) -> ChannelCredentialsPayload:
        return cls(account=None, client_id=None, client_secret=None, errors=errors)
