"""Channel systems push issues in as service accounts (#13): client credentials at
/oauth/token, batches through ``submitChannelIssues`` idempotent on the channel's record
id, and the read-back of what they sent (``issues(filter: {updatedSince})``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from closedloop.cli.main import app
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.identity.tokens import mint_channel_token
from closedloop.services.channels.clients import rotate_secret
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.services.issues import bulk_submit
from closedloop.settings import Settings
from tests.api.channel_helpers import (
    OPERATOR,
    ChannelApi,
    NewCredentials,
    basic,
    new_channel,
    token_response,
)
from tests.api.issue_helpers import step
from tests.conftest import Api
from tests.scope import ScopeCase, ScopeVisibilityMixin

pytestmark = pytest.mark.usefixtures("clean_issues")

GEO = credit_code(DEMO_ENTERPRISES[0].base17)  # 德清地信科技, 330521001
SILK = credit_code(DEMO_ENTERPRISES[1].base17)  # 新市丝绸织造, 330521102
CHANGXING = credit_code(DEMO_ENTERPRISES[2].base17)  # 长兴: outside 德清
MINSU = credit_code("91330521MA2JY3Q5K")  # new: registered by its first record
BAD_CHECK = GEO[:-1] + ("0" if GEO[-1] != "0" else "1")

READ_BACK = """query($since: DateTime, $after: String) {
  issues(filter: {updatedSince: $since}, orderBy: UPDATED_AT_ASC, first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id state reply updatedAt timeline { type } } } }"""


def record(n: int, **extra: Any) -> dict[str, Any]:
    body = {
        "recordId": f"12345-20261206-{n:05d}",
        "creditCode": GEO if n % 2 else SILK,
        "title": f"热线工单{n}：厂区道路破损",
        "content": f"第{n}号来电：厂区门口道路破损，货车无法通行，请求修复。",
        "category": "COMPLAINT",
        "tags": ["交通"],
    }
    body.update(extra)
    return body


@pytest.fixture
async def capi(api: Api, settings: Settings) -> ChannelApi:
    return ChannelApi(api, settings)


async def test_a_channel_pushes_1000_issues_retries_add_nothing_and_it_reads_back_results(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    batches = [[record(n) for n in range(b * 100, (b + 1) * 100)] for b in range(10)]
    ids: dict[str, str] = {}
    for batch in batches:
        result = await capi.push(creds, batch)
        assert (result["created"], result["alreadySubmitted"], result["rejected"]) == (100, 0, 0)
        for r in result["results"]:
            assert r["outcome"] == "CREATED" and r["issue"]["channel"] == "HOTLINE_12345"
            ids[r["recordId"]] = r["issue"]["id"]
    assert len(set(ids.values())) == 1000
    # The answer of batch 4 was lost: the system sends it again. Nothing is added, and
    # every record answers with the issue it became.
    again = await capi.push(creds, batches[4])
    assert (again["created"], again["alreadySubmitted"], again["rejected"]) == (0, 100, 0)
    assert all(ids[r["recordId"]] == r["issue"]["id"] for r in again["results"])
    async with db.system_transaction() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(t.issue))).scalar()
    assert count == 1000
    # The 德清 center handles a few; the channel reads back what changed since it last asked.
    since = clock.now() + dt.timedelta(minutes=30)
    clock.advance(dt.timedelta(hours=1))
    resolved = [ids[record(n)["recordId"]] for n in (3, 250, 999)]
    for issue_id in resolved:
        issue = {"id": issue_id, "version": 1}
        issue = await step(capi, "acceptIssue", issue, "deqing.center")
        await step(capi, "resolveIssue", issue, "deqing.center", reply="道路已修复，恢复通行。")
    data = await capi.gql(READ_BACK, {"since": since.isoformat()}, as_=creds.client_id)
    page = data["issues"]
    assert page["totalCount"] == 3
    assert sorted(n["id"] for n in page["nodes"]) == sorted(resolved)
    for node in page["nodes"]:
        assert node["state"] == "RESOLVED" and node["reply"] == "道路已修复，恢复通行。"
        # Public timeline only: what the channel can tell the citizen.
        assert [e["type"] for e in node["timeline"]][-1] == "RESOLVED"
    # From the start, with the cursor: every issue it sent, the changed ones last.
    seen: list[str] = []
    after = None
    while True:
        variables = {"since": None, "after": after}
        data = await capi.gql(READ_BACK, variables, as_=creds.client_id)
        seen += [n["id"] for n in data["issues"]["nodes"]]
        if not data["issues"]["pageInfo"]["hasNextPage"]:
            break
        after = data["issues"]["pageInfo"]["endCursor"]
    assert len(seen) == 1000 and set(seen[-3:]) == set(resolved)


async def test_bad_records_answer_on_their_own_and_write_nothing(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    records = [
        record(1),
        record(2, creditCode=BAD_CHECK),
        record(3, creditCode=CHANGXING),  # an enterprise outside 德清: like an unknown one
        record(4, title=" "),
        record(
            5,
            creditCode=MINSU,
            enterpriseName="德清莫干山民宿管理有限公司",
            enterpriseRegion="330521103",
        ),
        record(6, creditCode=MINSU),  # registered by the record before it
        record(1),  # repeats record 0 of this batch
        record(7, tags=["x" * 51]),
        record(
            8,
            creditCode=credit_code("91330522MA2D7R5T8"),
            enterpriseName="长兴某公司",
            enterpriseRegion="330522",
        ),  # a new enterprise outside the channel's region
    ]
    result = await capi.push(creds, records)
    outcome = [
        (r["outcome"], [(e["code"], e["field"]) for e in r["errors"]]) for r in result["results"]
    ]
    assert outcome == [
        ("CREATED", []),
        ("REJECTED", [("INVALID_CREDIT_CODE", "creditCode")]),
        ("REJECTED", [("ENTERPRISE_NOT_FOUND", "creditCode")]),
        ("REJECTED", [("REQUIRED", "title")]),
        ("CREATED", []),
        ("CREATED", []),
        ("REJECTED", [("DUPLICATE_EXTERNAL_ID", "recordId")]),
        ("REJECTED", [("INVALID", "tags")]),
        ("REJECTED", [("REGION_NOT_FOUND", "enterpriseRegion")]),
    ]
    async with db.system_transaction() as conn:
        external = set((await conn.execute(sa.select(t.issue.c.external_id))).scalars())
        registered = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(t.enterprise)
                .where(t.enterprise.c.name == "长兴某公司")
            )
        ).scalar()
    assert external == {record(n)["recordId"] for n in (1, 5, 6)}
    assert registered == 0
    # More than 100 records: refused as a whole before anything runs.
    response = await capi.post(
        """mutation($input: SubmitChannelIssuesInput!) {
          submitChannelIssues(input: $input) { created } }""",
        {"input": {"records": [record(n) for n in range(100, 201)]}},
        as_=creds.client_id,
    )
    assert "errors" in response.json()
    async with db.system_transaction() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(t.issue))).scalar()
    assert total == 3


async def test_only_channel_accounts_push_and_only_through_their_own_channel(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    data = await capi.gql(
        """mutation($input: SubmitChannelIssuesInput!) {
          submitChannelIssues(input: $input) { created results { recordId } errors { code } } }""",
        {"input": {"records": [record(1)]}},
        as_="deqing.center",
    )
    assert data["submitChannelIssues"] == {
        "created": 0,
        "results": [],
        "errors": [{"code": "PERMISSION_DENIED"}],
    }
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    # submitIssue names another channel: refused (the account is bound to 12345).
    data = await capi.gql(
        """mutation($input: SubmitIssueInput!) { submitIssue(input: $input) {
          issue { id } errors { code field } } }""",
        {"input": {"title": "t", "content": "c", "channel": "GOOD_BAD_REVIEW", "creditCode": GEO}},
        as_=creds.client_id,
    )
    assert data["submitIssue"] == {
        "issue": None,
        "errors": [{"code": "PERMISSION_DENIED", "field": "channel"}],
    }


async def test_client_credentials(
    capi: ChannelApi, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    creds = await new_channel(db, clock, channel="GOOD_BAD_REVIEW", region="3305")
    ok = await token_response(capi, creds)
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    # client_secret_post, form and JSON
    form = await capi.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert form.status_code == 200, form.text
    as_json = await capi.client.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert as_json.status_code == 200, as_json.text
    viewer = await capi.post(
        "{ viewer { role username } }",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert viewer.json()["data"]["viewer"] == {"role": "CHANNEL", "username": creds.client_id}

    async def status(**form: str) -> tuple[int, str]:
        response = await capi.client.post("/oauth/token", data=form)
        return response.status_code, response.json()["error"]

    assert await status(grant_type="password", client_id=creds.client_id) == (
        400,
        "unsupported_grant_type",
    )
    grant = "client_credentials"
    assert await status(grant_type=grant, client_id=creds.client_id, client_secret="x") == (
        401,
        "invalid_client",
    )
    assert await status(grant_type=grant, client_id="nobody", client_secret="x") == (
        401,
        "invalid_client",
    )
    assert await status(grant_type=grant) == (401, "invalid_client")
    both = await capi.client.post(
        "/oauth/token",
        data={"grant_type": grant, "client_id": creds.client_id},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )
    assert both.status_code == 400
    # Only a hash is stored.
    async with db.system_transaction() as conn:
        stored = (
            await conn.execute(
                sa.select(t.channel_client.c.secret_hash).where(
                    t.channel_client.c.client_id == creds.client_id
                )
            )
        ).scalar_one()
    assert stored.startswith("scrypt$") and creds.client_secret not in stored
    # A new secret: the old one stops working at once.
    rotated = await rotate_secret(db, clock, OPERATOR, creds.account_id, None)
    old = await token_response(capi, creds)
    assert old.status_code == 401
    assert rotated.client_secret is not None
    renewed = NewCredentials(creds.client_id, rotated.client_secret, creds.account_id)
    assert (await token_response(capi, renewed)).status_code == 200
    # A development token for a channel account, or a channel token for a staff account:
    # neither signs in.
    for token in (
        capi.token(creds.client_id),
        mint_channel_token(settings, "deqing.center", "deqing.center", None)[0],
    ):
        response = await capi.post(
            "{ viewer { role } }", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
    # Deactivated: no new token, and the one it holds stops working at its next request.
    async with db.system_transaction() as conn:
        await conn.execute(
            t.account.update().where(t.account.c.id == creds.account_id).values(active=False)
        )
        await conn.commit()
    assert (await token_response(capi, renewed)).status_code == 401


class TestChannelScope(ScopeVisibilityMixin):
    """A channel account sees what it submitted and nothing else; the center of the region
    sees it too; another channel account of the same region does not."""

    list_query = """{ issues(filter: {updatedSince: "2000-01-01T00:00:00Z"},
      orderBy: UPDATED_AT_ASC, first: 50) { nodes { id } } }"""
    list_path = ("issues",)

    @pytest.fixture(autouse=True)
    def _deps(self, db: Database, clock: FrozenClock, settings: Settings) -> None:
        self.db, self.clock, self.settings = db, clock, settings

    async def cases(self, api: Api) -> list[ScopeCase]:
        capi = ChannelApi(api, self.settings)
        mine = await new_channel(self.db, self.clock)
        other = await new_channel(self.db, self.clock)
        for creds in (mine, other):
            await capi.sign_in(creds)
        api.token = capi.token  # type: ignore[method-assign]
        pushed = await capi.push(mine, [record(1)])
        theirs = await capi.push(other, [record(2)])
        issue_id = pushed["results"][0]["issue"]["id"]
        staffs = theirs["results"][0]["issue"]["id"]
        return [
            ScopeCase(issue_id, insider=mine.client_id, outsider=other.client_id),
            ScopeCase(issue_id, insider="deqing.center", outsider=other.client_id),
            ScopeCase(staffs, insider=other.client_id, outsider=mine.client_id),
            ScopeCase(issue_id, insider=mine.client_id, outsider="changxing.center"),
        ]


async def test_read_back_costs_the_same_statements_whatever_its_size(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    await capi.push(creds, [record(n) for n in range(12)])
    query = """query($first: Int!) { issues(filter: {updatedSince: "2000-01-01T00:00:00Z"},
      orderBy: UPDATED_AT_ASC, first: $first) { totalCount
      nodes { id number state reply updatedAt enterprise { name } originRegion { name }
        lastEvent { type occurredAt } } } }"""

    async def statements(first: int) -> int:
        await capi.gql(query, {"first": first}, as_=creds.client_id)  # warm the caches
        seen: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            data = await capi.gql(query, {"first": first}, as_=creds.client_id)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert len(data["issues"]["nodes"]) == first
        return len(seen)

    small, large = await statements(2), await statements(12)
    assert small == large
    assert large <= 6


async def test_a_conflicting_batch_goes_record_by_record_with_the_same_answers(
    capi: ChannelApi, db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch meets a concurrent writer (here: the set-wise load fails with a conflict
    once): it is taken in record by record, and answers exactly as the set-wise load."""
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    await capi.push(creds, [record(1)])
    conflicts = []
    real = bulk_submit.submit_many

    async def conflicting(tx: Any, items: Any) -> Any:
        if not conflicts:
            conflicts.append(len(items))
            await real(tx, items)
            raise IntegrityError("INSERT", {}, Exception("uq_issue_channel_external_id"))
        return await real(tx, items)

    monkeypatch.setattr(bulk_submit, "submit_many", conflicting)
    records = [
        record(1),  # taken in before
        record(2, creditCode=BAD_CHECK),
        record(3, creditCode=MINSU, enterpriseName="德清莫干山民宿", enterpriseRegion="330521103"),
        record(4, creditCode=MINSU),
        record(5),
    ]
    result = await capi.push(creds, records)
    assert conflicts == [5]
    assert [(r["outcome"], [e["code"] for e in r["errors"]]) for r in result["results"]] == [
        ("ALREADY_SUBMITTED", []),
        ("REJECTED", ["INVALID_CREDIT_CODE"]),
        ("CREATED", []),
        ("CREATED", []),
        ("CREATED", []),
    ]
    async with db.system_transaction() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(t.issue))).scalar()
    assert total == 4  # nothing of the failed set-wise attempt stayed


async def test_the_same_batch_sent_twice_at_once_is_taken_in_once(
    capi: ChannelApi, db: Database, clock: FrozenClock
) -> None:
    creds = await new_channel(db, clock)
    await capi.sign_in(creds)
    batch = [record(n) for n in range(40)]
    first, second = await asyncio.gather(capi.push(creds, batch), capi.push(creds, batch))
    assert first["created"] + second["created"] == 40
    assert first["alreadySubmitted"] + second["alreadySubmitted"] == 40
    ids = {r["issue"]["id"] for r in first["results"]} | {
        r["issue"]["id"] for r in second["results"]
    }
    assert len(ids) == 40


async def test_channels_from_the_command_line(
    database_url: str, db: Database, capi: ChannelApi
) -> None:
    async def cli(*args: str) -> tuple[int, str, str]:
        runner = CliRunner()
        result = await asyncio.to_thread(
            runner.invoke, app, list(args), env={"DATABASE_URL": database_url}
        )
        return result.exit_code, result.stdout, result.stderr

    code, out, err = await cli(
        "channels", "create", "--channel", "GOOD_BAD_REVIEW", "--region", "3305",
        "--name", "湖州市好差评系统",
    )  # fmt: skip
    assert code == 0, (out, err)
    printed = dict(line.split("=", 1) for line in out.strip().splitlines())
    creds = NewCredentials(printed["client_id"], printed["client_secret"], 0)
    assert (await token_response(capi, creds)).status_code == 200
    code, out, err = await cli("channels", "rotate-secret", creds.client_id)
    assert code == 0, (out, err)
    assert (await token_response(capi, creds)).status_code == 401
    printed = dict(line.split("=", 1) for line in out.strip().splitlines())
    assert printed["client_id"] == creds.client_id
    renewed = NewCredentials(creds.client_id, printed["client_secret"], 0)
    assert (await token_response(capi, renewed)).status_code == 200
    # The account was made by the administration service: audited, the channel named.
    async with db.system_transaction() as conn:
        account = sa.select(t.account.c.id).where(t.account.c.username == creds.client_id)
        audited = await conn.execute(
            sa.select(t.audit_log.c.action, t.audit_log.c.actor_name, t.audit_log.c.after)
            .where(t.audit_log.c.object_id == account.scalar_subquery())
            .order_by(t.audit_log.c.id)
        )
        entries = [(a, n, after.get("channel")) for a, n, after in audited]
    assert [(a, c) for a, _, c in entries] == [
        ("ACCOUNT_CREATED", "GOOD_BAD_REVIEW"),
        ("CHANNEL_SECRET_ROTATED", None),
    ]
    assert all(n.startswith("cli:") for _, n, _ in entries)
    for args, message in (
        (("--channel", "FAX", "--region", "3305"), "UNKNOWN_CHANNEL"),
        (("--channel", "HOTLINE_12345", "--region", "339999"), "REGION_NOT_FOUND"),
    ):
        code, out, err = await cli("channels", "create", *args, "--name", "x")
        assert code == 1 and message in err, (out, err)
    code, out, err = await cli("channels", "rotate-secret", "nobody")
    assert code == 1 and "NOT_FOUND" in err


async def test_an_account_whose_credentials_fail_to_be_stored_is_not_created(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account and its credentials are one unit of work: never an account that no
    secret can sign in (nor its audit entry)."""
    from closedloop.identity import channel_clients
    from closedloop.services.channels import clients

    async def fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the credentials table refused the row")

    async def counts() -> tuple[int, int]:
        async with db.system_transaction() as conn:
            accounts = (
                await conn.execute(
                    sa.select(sa.func.count()).where(t.account.c.username.like("hotline-12345-%"))
                )
            ).scalar_one()
            entries = (
                await conn.execute(sa.select(sa.func.count()).select_from(t.audit_log))
            ).scalar_one()
        return accounts, entries

    before = await counts()
    monkeypatch.setattr(channel_clients, "add_client", fails)
    with pytest.raises(RuntimeError):
        cmd = clients.NewChannelAccount("HOTLINE_12345", "330521", "德清12345")
        await clients.create_channel_account(db, clock, OPERATOR, cmd)
    assert await counts() == before
