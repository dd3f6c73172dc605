"""a department scoreboard reads the ratings its units' resolutions got in the period

A3b (``services.evaluation.attribution._department_statement``) books to a unit the ratings
of its resolutions an issue has left behind, in the period of the unit's first rated
resolution of it. It now starts from the ratings made in the period, and the indexes of
0024 led with the unit alone: PostgreSQL read every rating the group's units ever got
(湖州 at 1M issues: 8,688 rows on 5,746 heap pages) to keep the quarter's 1,652. On (unit,
``resolved_at``) it reads only those. These replace 0024's rating indexes, which nothing
else used (the leading column still serves a look-up by unit alone).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_issue_rating_department", table_name="issue_rating")
    op.drop_index("ix_issue_rating_board", table_name="issue_rating")
    op.create_index(
        "ix_issue_rating_department_resolved", "issue_rating", ["department_id", "resolved_at"]
    )
    op.create_index("ix_issue_rating_board_resolved", "issue_rating", ["board_id", "resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_issue_rating_board_resolved", table_name="issue_rating")
    op.drop_index("ix_issue_rating_department_resolved", table_name="issue_rating")
    op.create_index("ix_issue_rating_department", "issue_rating", ["department_id"])
    op.create_index("ix_issue_rating_board", "issue_rating", ["board_id"])
