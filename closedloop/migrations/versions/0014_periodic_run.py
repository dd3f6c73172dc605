"""periodic_run: when each piece of once-only background work last started

Every API process runs the same background loops (sweeper, outbox relay; the sweeper also
refreshes the dashboard rollup). With several processes (``closedloop serve --workers N``,
or several hosts) each round must run once, not once per process: a process takes a
round by locking its row ``FOR UPDATE SKIP LOCKED`` and runs it only when the previous
round started at least an interval ago (``closedloop.services.periodic``). Bookkeeping of
the system's own work: no row-level security, and no privilege for the request role.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"
JOBS = ("sweep", "relay")


def upgrade() -> None:
    op.create_table(
        "periodic_run",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO periodic_run (name) VALUES " + ", ".join(f"('{job}')" for job in JOBS))
    op.execute(f"GRANT SELECT, UPDATE ON periodic_run TO {SYSTEM}")
    op.execute(f"REVOKE ALL ON periodic_run FROM {APP}")


def downgrade() -> None:
    op.drop_table("periodic_run")
