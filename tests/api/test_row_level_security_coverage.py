"""Row-level security as a second barrier on every tenant table (migration 0012): each table
is found in pg_catalog, not listed by hand, so a new table that holds tenant data fails
here until it has forced policies; the request role reads nothing without a real scope,
whatever it writes into its scope settings; it holds only the privileges its statements
need."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from closedloop.db.database import Database
from tests.api.issue_helpers import key, ok, step, submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

APP = "closedloop_app"
SYSTEM = "closedloop_system"

# Tables without row-level security, on purpose. Everything else in the schema must have it
# enabled and forced, with policies.
REFERENCE = {
    # The administrative tree and its units: every caller reads names and parents of
    # regions outside its scope (the tier an issue went to, a dashboard's children).
    "region",
    "center",
    "board",
    "department",
    # The province's tag library (shared by design) and the published time limits.
    "tag",
    "time_limit_rule",
}
# Migration and background-round bookkeeping: no row-level security, and no privilege at
# all for the API.
BOOKKEEPING = {"alembic_version", "periodic_run", "issue_rollup_slice"}

# Exactly what the request role may do to each table; every other privilege is absent.
APP_PRIVILEGES = {
    **{table: {"SELECT"} for table in REFERENCE},
    "issue": {"SELECT", "INSERT", "UPDATE"},
    "issue_event": {"SELECT", "INSERT"},
    "issue_custody": {"SELECT", "INSERT", "UPDATE"},
    "issue_rating": {"SELECT", "INSERT"},
    "problem_list_push": {"SELECT", "INSERT", "UPDATE"},
    "issue_similarity_key": {"SELECT", "INSERT"},
    "callback_item": {"SELECT", "INSERT", "UPDATE"},
    "outbox": {"INSERT"},
    "idempotency_key": {"SELECT", "INSERT", "UPDATE"},
    "issue_number": {"SELECT", "INSERT", "UPDATE"},
    "enterprise": {"SELECT", "INSERT", "UPDATE"},
    "account": {"SELECT", "INSERT", "UPDATE"},
    "audit_log": {"SELECT", "INSERT"},
    "webhook_endpoint": set(),
    "scoring_scheme_version": set(),
    "channel_client": {"INSERT"},  # SELECT and UPDATE of some columns: APP_COLUMNS
    "model_case": {"SELECT", "INSERT"},
    "callback_sample": {"SELECT", "INSERT"},
    "indicator_record": {"SELECT", "INSERT", "UPDATE"},
    "list_entry": {"SELECT", "INSERT"},
    "issue_rollup": {"SELECT"},
    "issue_rollup_dirty": set(),
    "alembic_version": set(),
    "periodic_run": set(),
    "issue_rollup_slice": set(),
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# Privileges on single columns (of tables whose whole rows the request role may not read):
# a channel system's secret hash is compared by the system role only (migration 0021).
APP_COLUMNS = {
    "channel_client": {
        "account_id": {"SELECT"},
        "channel": {"SELECT"},
        "client_id": {"SELECT"},
        "created_at": {"SELECT"},
        "secret_set_at": {"SELECT", "UPDATE"},
        "secret_hash": {"UPDATE"},
    }
}

# Scope settings a compromised request path could write: none may show a single row. (A tag
# naming a real caller, e.g. another account's id with its role, reads as that caller:
# the settings say who asks, they cannot prove it; what they cannot do is reach past one
# caller's scope.)
FORGED_SCOPES: list[dict[str, str]] = [
    {},
    {"role": "SYSTEM"},
    {"role": "SYSTEM", "region": "33"},
    {"role": "system", "region": ""},
    {"role": "ADMIN", "region": ""},
    {"role": "ENTERPRISE", "enterprise": "abc"},
    {"role": "ENTERPRISE", "enterprise": "1 OR true", "region": ""},
    {"role": "ENTERPRISE", "enterprise": "99999999999999999999"},
    {"role": "BOARD_HANDLER", "region": "%", "board": "x"},
    {"role": "DEPARTMENT_HANDLER", "region": "", "department": "-1"},
    {"role": "nonsense", "region": "33", "account": "abc"},
    {"role": "'; SELECT true; --", "region": "330521"},
    {"role": "", "region": "330521", "enterprise": "1", "board": "1", "department": "1"},
    {"acting_on": "not a number"},
]


async def _tables(db: Database) -> dict[str, tuple[bool, bool, int]]:
    """Every table of the schema: (RLS enabled, forced, number of policies)."""
    async with db.admin.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            )
        )
        return {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}


async def test_every_tenant_table_has_forced_row_level_security(db: Database) -> None:
    tables = await _tables(db)
    assert set(tables) >= REFERENCE | BOOKKEEPING, "the allow-list names a table that is gone"
    unguarded = {
        name: state
        for name, state in tables.items()
        if name not in REFERENCE | BOOKKEEPING and not (state[0] and state[1] and state[2] > 0)
    }
    assert unguarded == {}, "tenant tables without forced row-level security and policies"
    assert len(tables) - len(REFERENCE | BOOKKEEPING) >= 17


async def test_policies_name_their_role_and_never_trust_a_system_tag(db: Database) -> None:
    """Each policy applies to the request role or to the system role, never to PUBLIC; no
    policy reads a "SYSTEM" value of a setting."""
    async with db.admin.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT tablename, policyname, roles::text[], coalesce(qual, ''),"
                    " coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'public'"
                )
            )
        ).all()
    assert rows
    for table, name, roles, using, check in rows:
        assert roles in ([APP], [SYSTEM]), (table, name, roles)
        assert "SYSTEM" not in (using + check).upper().replace("CLOSEDLOOP_SYSTEM", ""), name
        if roles == [SYSTEM]:
            assert (using, check) == ("true", "true"), name


async def test_the_request_role_holds_only_the_privileges_its_statements_need(
    db: Database,
) -> None:
    tables = await _tables(db)
    assert set(APP_PRIVILEGES) == set(tables), "declare the request role's privileges here"
    async with db.admin.connect() as conn:
        held: dict[str, set[str]] = {}
        for table in tables:
            for privilege in PRIVILEGES:
                granted = await conn.scalar(
                    sa.text("SELECT has_table_privilege(:role, :table, :privilege)"),
                    {"role": APP, "table": table, "privilege": privilege},
                )
                if granted:
                    held.setdefault(table, set()).add(privilege)
        assert {t: held.get(t, set()) for t in tables} == APP_PRIVILEGES
        for table, columns in APP_COLUMNS.items():
            for column, wanted in columns.items():
                column_held = set()
                for privilege in ("SELECT", "UPDATE"):
                    granted = await conn.scalar(
                        sa.text("SELECT has_column_privilege(:role, :table, :column, :p)"),
                        {"role": APP, "table": table, "column": column, "p": privilege},
                    )
                    if granted:
                        column_held.add(privilege)
                assert column_held == wanted, (table, column)
        member = await conn.scalar(
            sa.text("SELECT pg_has_role(:app, :system, 'MEMBER')"), {"app": APP, "system": SYSTEM}
        )
        assert member is False


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT version_num FROM alembic_version",
        "UPDATE alembic_version SET version_num = '0001'",
        "DELETE FROM alembic_version",
        "INSERT INTO alembic_version VALUES ('x')",
        "DELETE FROM issue",
        "TRUNCATE issue_event",
        "DELETE FROM outbox",
        "DELETE FROM account",
        "UPDATE audit_log SET actor_name = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "INSERT INTO region (code, name, level) VALUES ('990000', 'x', 'PROVINCE')",
        "UPDATE time_limit_rule SET assign_days = 1",
        "DELETE FROM issue_rollup",
        "INSERT INTO issue_rollup_dirty VALUES (now(), '330521')",
        "SELECT 1 FROM outbox",
        "SELECT 1 FROM webhook_endpoint",
        "SET ROLE closedloop_system",
    ],
)
async def test_the_request_role_cannot_write_what_it_has_no_business_writing(
    db: Database, sql: str
) -> None:
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(sa.text(sql))


@pytest.fixture
async def every_tenant_table_filled(api: Api, db: Database) -> AsyncIterator[dict[str, int]]:
    """At least one row in every tenant table (rows the API writes, plus direct inserts for
    what one test cannot reach through it); the row counts as the owner sees them."""
    issue = await submit(api)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    await ok(
        api,
        "submitIssue",
        {"title": "用电扩容", "content": "申请增容800千伏安", "idempotencyKey": key()},
        "ent.xinshi-silk",
    )
    filler = [
        "INSERT INTO outbox (created_at, channel, recipient, topic, issue_id, payload,"
        " next_attempt_at) SELECT now(), 'SMS', 'x', 'test', min(id), '{}', now() FROM issue",
        "INSERT INTO issue_rating (issue_id, resolution, resolved_at, region_code, grade,"
        " rated_at) SELECT min(id), 99, now(), '330521', 'SATISFIED', now() FROM issue",
        "INSERT INTO problem_list_push (issue_id, region_code, reason, pushed_at, state,"
        " updated_at) SELECT min(id), '330521', 'rls-test', now(), 'PENDING', now() FROM issue",
        "INSERT INTO model_case (issue_id, province_code, region_code, title, problem,"
        " solution, shared_at) SELECT min(id), '33', '330521', 't', 'p', 's', now() FROM issue",
        "INSERT INTO callback_sample (region_code, period_label, period_start, period_end,"
        " rate, seed, population, drawn_at) VALUES ('330521', 'rls-test', '2026-01-01',"
        " '2026-01-31', 0.1, 's', 1, now())",
        "INSERT INTO callback_item (sample_id, issue_id) SELECT max(s.id), min(i.id)"
        " FROM callback_sample s, issue i",
        "INSERT INTO indicator_record (scheme, indicator_key, target_kind, region_code,"
        " period_label, period_start, period_end, value, recorded_at) VALUES ('rls-test',"
        " 'k', 'REGION', '330521', 'p', '2026-01-01', '2026-01-31', '{}', now())",
        "INSERT INTO list_entry (kind, target_kind, region_code, reason, listed_on, added_at)"
        " VALUES ('RED', 'REGION', '330521', 'rls-test', '2026-01-01', now())",
        "INSERT INTO issue_rollup (month, county_code, dimension, value)"
        " VALUES ('2026-01-01', '330521', 'rls-test', 'x')",
        "INSERT INTO issue_rollup_dirty VALUES ('2026-01-01', '330521')",
        "INSERT INTO webhook_endpoint (region_code, url, secret, created_at)"
        " VALUES ('330521', 'https://rls-test.example', 'rls-test-secret-0000', now())",
        "INSERT INTO scoring_scheme_version (scheme_key, version_label, document, region_code,"
        " uploaded_by_name, uploaded_at) VALUES ('RLS_TEST', 'rls-test', '{}', '33', 'x', now())",
        # Appended only: stays (nothing may delete it); its actor names no account.
        "INSERT INTO audit_log (occurred_at, actor_name, action, object_kind, region_code)"
        " VALUES (now(), 'rls-test', 'ACCOUNT_UPDATED', 'ACCOUNT', '330521')",
        "INSERT INTO channel_client (account_id, channel, client_id, secret_hash, created_at,"
        " secret_set_at) SELECT min(id), 'HOTLINE_12345', 'rls-test', 'x', now(), now()"
        " FROM account WHERE id NOT IN (SELECT account_id FROM channel_client)",
    ]
    async with db.admin.begin() as conn:
        for sql in filler:
            await conn.execute(sa.text(sql))
    tables = await _tables(db)
    guarded = [name for name, (enabled, _, _) in tables.items() if enabled]
    async with db.admin.connect() as conn:
        counts = {
            name: int(await conn.scalar(sa.text(f"SELECT count(*) FROM {name}")) or 0)
            for name in guarded
        }
    yield counts
    async with db.admin.begin() as conn:
        for sql in CLEAN_UP:
            await conn.execute(sa.text(sql))


# What the filler wrote outside the issue tables (``clean_issues`` empties those).
CLEAN_UP = (
    "DELETE FROM channel_client WHERE client_id = 'rls-test'",
    "DELETE FROM callback_item WHERE sample_id IN"
    " (SELECT id FROM callback_sample WHERE period_label = 'rls-test')",
    "DELETE FROM callback_sample WHERE period_label = 'rls-test'",
    "DELETE FROM indicator_record WHERE scheme = 'rls-test'",
    "DELETE FROM list_entry WHERE reason = 'rls-test'",
    "DELETE FROM issue_rollup WHERE dimension = 'rls-test'",
    "DELETE FROM webhook_endpoint WHERE url = 'https://rls-test.example'",
    "DELETE FROM scoring_scheme_version WHERE version_label = 'rls-test'",
    "DELETE FROM issue_rollup_dirty WHERE month = '2026-01-01' AND county_code = '330521'",
)


async def test_the_request_role_reads_nothing_without_a_real_scope(
    db: Database, every_tenant_table_filled: dict[str, int]
) -> None:
    counts = every_tenant_table_filled
    assert counts and all(n > 0 for n in counts.values()), counts
    readable = [
        t for t, privileges in APP_PRIVILEGES.items() if "SELECT" in privileges and t in counts
    ]
    assert len(readable) >= 15
    for scope in FORGED_SCOPES:
        async with db.engine.connect() as conn:
            await conn.begin()
            for name, value in scope.items():
                await conn.execute(
                    sa.text("SELECT set_config(:name, :value, true)"),
                    {"name": f"closedloop.{name}", "value": value},
                )
            seen = {
                table: await conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))
                for table in readable
            }
            assert seen == dict.fromkeys(readable, 0), scope
            # Nor can it change rows it cannot see.
            for sql in (
                "UPDATE issue SET title = title",
                "UPDATE account SET active = active",
                "UPDATE enterprise SET name = name",
            ):
                updated = await conn.execute(sa.text(sql))
                assert updated.rowcount == 0, (scope, sql)
            await conn.rollback()


async def test_the_system_role_sees_every_row(
    db: Database, every_tenant_table_filled: dict[str, int]
) -> None:
    async with db.system_transaction() as conn:
        for table, count in every_tenant_table_filled.items():
            assert await conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) == count, table
