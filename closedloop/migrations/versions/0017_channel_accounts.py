"""channel systems as service accounts: their credentials, and the CHANNEL role's scope

A channel system (the 12345 hotline, 浙里办, 好差评…) signs in with OAuth 2.0 client
credentials (``closedloop.services.channels``): ``channel_client`` keeps its client id and
a hash of its secret, one row per service account (role ``CHANNEL``). The API's role reads
its own row only (the caller's ``closedloop.account``); the token endpoint reads it as the
system.

The CHANNEL role's scope in the row-level security policies of migration 0012: it sees the
issues its own account submitted (``submitted_by``), reads and registers enterprises and
numbers issues in its region's subtree (it submits on their behalf), and reads public
timeline entries only. An index serves its read-back: its issues changed since a time.

The issue policy now reads ``submitted_by``: the two covering indexes whose scans answer
without visiting the table under row-level security (the pool's count, ``ix_issue_pool``
of migration 0008, and the running clocks, ``ix_issue_running_clock`` of 0007) include it,
so that they stay index-only scans. Each is built beside the old one and takes its name.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"


def _setting(name: str) -> str:
    return f"(SELECT current_setting('closedloop.{name}', true))"


def _number(name: str, digits: int = 9) -> str:
    value = f"current_setting('closedloop.{name}', true)"
    return f"(SELECT CASE WHEN {value} ~ '^[0-9]{{1,{digits}}}$' THEN {value}::bigint END)"


ROLE = _setting("role")
REGION = _setting("region")
STAFF = "'CENTER_STAFF','LEADER','EVALUATOR','PROVINCE_MONITOR','ADMIN'"
IS_STAFF = f"{ROLE} IN ({STAFF}) AND {REGION} <> ''"
IS_CHANNEL = f"{ROLE} = 'CHANNEL' AND {REGION} <> ''"


def _issue(channel: bool) -> str:
    """Migration 0012's issue scope, with (``channel``) or without the CHANNEL case."""
    case = (
        f"  WHEN {ROLE} = 'CHANNEL' THEN submitted_by = {_number('account')}\n" if channel else ""
    )
    return f"""(CASE
  WHEN {ROLE} = 'ENTERPRISE' THEN enterprise_id = {_number("enterprise")}
{case}  WHEN {ROLE} = 'BOARD_HANDLER' THEN
    holding_region_code = {REGION} AND board_id = {_number("board")}
  WHEN {ROLE} = 'DEPARTMENT_HANDLER' THEN
    holding_region_code = {REGION} AND department_id = {_number("department")}
  WHEN {IS_STAFF} THEN
    starts_with(origin_region_code, {REGION}) OR starts_with(holding_region_code, {REGION})
  ELSE false
END)"""


_ACTING_ON = f"id = {_number('acting_on', 18)}"
_ISSUE_CHILD = "EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)"


def _public_event(channel: bool) -> str:
    roles = "'ENTERPRISE','CHANNEL'" if channel else "'ENTERPRISE'"
    if channel:
        return f"(public OR {ROLE} IS NULL OR {ROLE} NOT IN ({roles}))"
    return f"(public OR {ROLE} IS DISTINCT FROM 'ENTERPRISE')"


def _submitter_region(column: str, channel: bool) -> str:
    who = f"{IS_STAFF} OR ({ROLE} = 'ENTERPRISE' AND {REGION} <> '')"
    if channel:
        who += f" OR ({IS_CHANNEL})"
    return f"(CASE WHEN {who} THEN starts_with({column}, {REGION}) ELSE false END)"


def _staff_region(column: str, channel: bool) -> str:
    who = f"{IS_STAFF} OR ({IS_CHANNEL})" if channel else IS_STAFF
    return f"(CASE WHEN {who} THEN starts_with({column}, {REGION}) ELSE false END)"


def _enterprise(channel: bool) -> str:
    extra = ",'CHANNEL'" if channel else ""
    return f"""(CASE
  WHEN {ROLE} = 'ENTERPRISE' THEN id = {_number("enterprise")}
  WHEN {ROLE} IN ({STAFF},'BOARD_HANDLER','DEPARTMENT_HANDLER'{extra}) AND {REGION} <> ''
    AND starts_with(region_code, {REGION}) THEN true
  ELSE EXISTS (SELECT 1 FROM issue i WHERE i.enterprise_id = enterprise.id)
END)"""


def _policies(channel: bool) -> None:
    issue = _issue(channel)
    number = _submitter_region("region_code", channel)
    statements = [
        ("issue_select", "issue", f"FOR SELECT TO {APP} USING ({issue} OR {_ACTING_ON})"),
        ("issue_insert", "issue", f"FOR INSERT TO {APP} WITH CHECK ({issue})"),
        ("issue_update", "issue", f"FOR UPDATE TO {APP} USING ({issue}) WITH CHECK (true)"),
        (
            "issue_event_select",
            "issue_event",
            f"FOR SELECT TO {APP} USING ({_ISSUE_CHILD} AND {_public_event(channel)})",
        ),
        ("issue_number_select", "issue_number", f"FOR SELECT TO {APP} USING ({number})"),
        ("issue_number_insert", "issue_number", f"FOR INSERT TO {APP} WITH CHECK ({number})"),
        (
            "issue_number_update",
            "issue_number",
            f"FOR UPDATE TO {APP} USING ({number}) WITH CHECK ({number})",
        ),
        ("enterprise_select", "enterprise", f"FOR SELECT TO {APP} USING ({_enterprise(channel)})"),
        (
            "enterprise_insert",
            "enterprise",
            f"FOR INSERT TO {APP} WITH CHECK ({_staff_region('region_code', channel)})",
        ),
    ]
    for name, table, body in statements:
        op.execute(f"DROP POLICY {name} ON {table}")
        op.execute(f"CREATE POLICY {name} ON {table} {body}")


OPEN = "('SUBMITTED','ACCEPTED','ASSIGNED','IN_PROGRESS','REOPENED')"
POOL = "issue (holding_region_code, created_at DESC, id DESC)"
POOL_INCLUDE = "state, origin_region_code, enterprise_id, board_id, department_id"
CLOCK = "issue (origin_region_code, created_at)"
CLOCK_INCLUDE = (
    "id, enterprise_id, holding_region_code, state, board_id, department_id, warn_at, due_at"
)


def _covering(submitted_by: bool) -> None:
    extra = ", submitted_by" if submitted_by else ""
    for name, keys, include, where in (
        ("ix_issue_pool", POOL, POOL_INCLUDE, f"state IN {OPEN}"),
        ("ix_issue_running_clock", CLOCK, CLOCK_INCLUDE, "clock_kind IS NOT NULL"),
    ):
        op.execute(f"CREATE INDEX {name}_next ON {keys} INCLUDE ({include}{extra}) WHERE {where}")
        op.execute(f"DROP INDEX {name}")
        op.execute(f"ALTER INDEX {name}_next RENAME TO {name}")


def upgrade() -> None:
    op.create_table(
        "channel_client",
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False, unique=True),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("ALTER TABLE channel_client ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE channel_client FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY channel_client_system ON channel_client TO {SYSTEM}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON channel_client TO {SYSTEM}")
    op.execute(f"GRANT SELECT ON channel_client TO {APP}")
    op.execute(
        f"CREATE POLICY channel_client_select ON channel_client FOR SELECT TO {APP}"
        f" USING (account_id = {_number('account')})"
    )
    op.create_index("ix_issue_submitter_updated", "issue", ["submitted_by", "updated_at", "id"])
    _covering(submitted_by=True)
    _policies(channel=True)


def downgrade() -> None:
    _policies(channel=False)
    _covering(submitted_by=False)
    op.drop_index("ix_issue_submitter_updated", table_name="issue")
    op.drop_table("channel_client")
