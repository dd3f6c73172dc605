"""an index for a center's pool page: held here, open, newest first

The pool page (``issues(filter: {pool: true})``) asks for the open issues a region holds,
ordered by creation time. With this partial index the first page is an index scan that
stops after 51 rows instead of sorting every open issue of the region.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = "('SUBMITTED','ACCEPTED','ASSIGNED','IN_PROGRESS','REOPENED')"


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_issue_pool ON issue (holding_region_code, created_at DESC, id DESC)"
        f" WHERE state IN {OPEN}"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_issue_pool")
