"""accounts and enterprises administered through the API; the append-only audit log

- ``account`` and ``enterprise`` get a ``version`` (optimistic concurrency of their
  administration); ``enterprise`` a contact person next to its phone.
- The request role may now INSERT and UPDATE accounts and UPDATE enterprises, but only as
  an ADMIN and only rows whose region (an enterprise user's: its enterprise's) lies in the
  ADMIN's subtree, before and after the change: the same rule the API checks first
  (``closedloop.services.accounts``), kept here as the second barrier. Nothing may DELETE
  an account (it is deactivated).
- ``audit_log``: who, when, what, before -> after. The request role may INSERT entries it
  is the actor of, in its own subtree, and SELECT them as an ADMIN or a PROVINCE_MONITOR of
  an ancestor region; no role is granted UPDATE or DELETE, and a trigger refuses both to
  anyone (the tables' owner included): the log is append-only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"


def _setting(name: str) -> str:
    return f"(SELECT current_setting('closedloop.{name}', true))"


def _number(name: str) -> str:
    value = f"current_setting('closedloop.{name}', true)"
    return f"(SELECT CASE WHEN {value} ~ '^[0-9]{{1,9}}$' THEN {value}::bigint END)"


ROLE = _setting("role")
REGION = _setting("region")
IS_ADMIN = f"{ROLE} = 'ADMIN' AND {REGION} <> ''"
# An account in the ADMIN's subtree: a staff account by its region, an enterprise user by
# its enterprise's region (closedloop.services.accounts.scope says the same in Python).
_MANAGED_ACCOUNT = f"""(CASE WHEN {IS_ADMIN} THEN
  CASE WHEN enterprise_id IS NOT NULL THEN EXISTS (SELECT 1 FROM enterprise e
      WHERE e.id = account.enterprise_id AND starts_with(e.region_code, {REGION}))
    ELSE starts_with(region_code, {REGION}) END
  ELSE false END)"""
_MANAGED_ENTERPRISE = (
    f"(CASE WHEN {IS_ADMIN} THEN starts_with(region_code, {REGION}) ELSE false END)"
)
_AUDIT_READ = (
    f"(CASE WHEN {ROLE} IN ('ADMIN','PROVINCE_MONITOR') AND {REGION} <> ''"
    f" THEN starts_with(region_code, {REGION}) ELSE false END)"
)
_AUDIT_WRITE = (
    f"(CASE WHEN {ROLE} <> '' AND {REGION} <> '' AND actor_id = {_number('account')}"
    f" THEN starts_with(region_code, {REGION}) ELSE false END)"
)


def upgrade() -> None:
    op.add_column("account", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column(
        "enterprise", sa.Column("version", sa.Integer, nullable=False, server_default="1")
    )
    op.add_column("enterprise", sa.Column("contact_name", sa.Text, nullable=True))
    op.create_index("ix_account_region_code", "account", ["region_code", "id"])
    op.create_index("ix_account_enterprise_id", "account", ["enterprise_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("object_kind", sa.Text, nullable=False),
        sa.Column("object_id", sa.BigInteger, nullable=True),
        sa.Column(
            "region_code", sa.Text(collation="C"), sa.ForeignKey("region.code"), nullable=False
        ),
        sa.Column("before", pg.JSONB, nullable=True),
        sa.Column("after", pg.JSONB, nullable=True),
    )
    op.create_index("ix_audit_log_region_code", "audit_log", ["region_code", "id"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_kind", "object_id"])

    # Accounts and enterprises: administered by an ADMIN within its subtree.
    op.execute(f"GRANT INSERT, UPDATE ON account TO {APP}")
    op.execute(f"GRANT UPDATE ON enterprise TO {APP}")
    op.execute(
        f"CREATE POLICY account_insert ON account FOR INSERT TO {APP}"
        f" WITH CHECK ({_MANAGED_ACCOUNT})"
    )
    op.execute(
        f"CREATE POLICY account_update ON account FOR UPDATE TO {APP}"
        f" USING ({_MANAGED_ACCOUNT}) WITH CHECK ({_MANAGED_ACCOUNT})"
    )
    op.execute(
        f"CREATE POLICY enterprise_update ON enterprise FOR UPDATE TO {APP}"
        f" USING ({_MANAGED_ENTERPRISE}) WITH CHECK ({_MANAGED_ENTERPRISE})"
    )
    op.execute(
        """
        DO $$ DECLARE seq text; BEGIN
          FOR seq IN SELECT pg_get_serial_sequence('account', a.attname) FROM pg_attribute a
            WHERE a.attrelid = 'account'::regclass AND a.attidentity <> '' LOOP
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO closedloop_app', seq);
          END LOOP;
          FOR seq IN SELECT pg_get_serial_sequence('audit_log', a.attname) FROM pg_attribute a
            WHERE a.attrelid = 'audit_log'::regclass AND a.attidentity <> '' LOOP
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO closedloop_app, closedloop_system',
              seq);
          END LOOP;
        END $$
        """
    )

    # The audit log: appended, read in scope, never changed.
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_log FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT, INSERT ON audit_log TO {APP}, {SYSTEM}")
    op.execute(
        f"CREATE POLICY audit_log_system ON audit_log TO {SYSTEM} USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY audit_log_select ON audit_log FOR SELECT TO {APP} USING ({_AUDIT_READ})"
    )
    op.execute(
        f"CREATE POLICY audit_log_insert ON audit_log FOR INSERT TO {APP}"
        f" WITH CHECK ({_AUDIT_WRITE})"
    )
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.execute("DROP POLICY enterprise_update ON enterprise")
    op.execute("DROP POLICY account_update ON account")
    op.execute("DROP POLICY account_insert ON account")
    op.execute(f"REVOKE UPDATE ON enterprise FROM {APP}")
    op.execute(f"REVOKE INSERT, UPDATE ON account FROM {APP}")
    op.drop_index("ix_account_enterprise_id", "account")
    op.drop_index("ix_account_region_code", "account")
    op.drop_column("enterprise", "contact_name")
    op.drop_column("enterprise", "version")
    op.drop_column("account", "version")
