"""time-limit rules and webhook endpoints administered through the API

- ``time_limit_rule`` gets a ``version`` (optimistic concurrency of ``setTimeLimitRule``).
- ``webhook_endpoint``: where notifications of a region's subtree go (URL, the HMAC secret
  shared with the receiver, the event kinds it wants, or every kind when none is named).
  Written and read by the system role only: the API checks the policy
  (``rules.manage``) and writes as the system, as for every reference table; the request
  role holds no privilege on it (the secret never reaches it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SYSTEM = "closedloop_system"


def upgrade() -> None:
    op.add_column(
        "time_limit_rule", sa.Column("version", sa.Integer, nullable=False, server_default="1")
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column(
            "region_code", sa.Text(collation="C"), sa.ForeignKey("region.code"), nullable=False
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("event_kinds", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_endpoint_region_code", "webhook_endpoint", ["region_code"])
    op.execute("ALTER TABLE webhook_endpoint ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE webhook_endpoint FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoint TO {SYSTEM}")
    op.execute(
        f"""
        DO $$ BEGIN
          EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {SYSTEM}',
            pg_get_serial_sequence('webhook_endpoint', 'id'));
        END $$
        """
    )
    op.execute(
        f"CREATE POLICY webhook_endpoint_system ON webhook_endpoint TO {SYSTEM}"
        " USING (true) WITH CHECK (true)"
    )


def downgrade() -> None:
    op.drop_table("webhook_endpoint")
    op.drop_column("time_limit_rule", "version")
