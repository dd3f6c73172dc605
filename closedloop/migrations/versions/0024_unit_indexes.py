"""Indexes that keep a city's department scores proportional to the city, not the country

A department scoreboard (``services.evaluation.attribution._department_statement``) books
to a unit the lapses it was charged with after the issue left it (A3a: custody spans with
``lapsed_limits > 0``) and the ratings of resolutions the issue has left behind (A3b), both
selected by the group's board and department ids. No index led with those ids: PostgreSQL
read ``issue_custody`` and ``issue_rating`` whole, in issue order, filtering every row. On
the 1,000,000-issue Zhejiang data set the 湖州 quarter's scores took 3.1 s, 1.9 s of it in
the custody scan (1,894,691 rows removed by the filter) and 1.2 s in the rating scan
(695,061 removed): a cost that grows with the whole country's tables, not the city's units
(``bench/RESULTS.md``, "The whole country"). With these four indexes the same statement
reads only the city's units' rows (a BitmapOr of two index scans per table): 3.1 s -> 1.0 s.

The custody ones are partial (only spans that let a limit lapse, ≈ 4% of the spans: small);
the rating ones whole (a unit's ratings, every one of which A3b may book).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

LAPSED = sa.text("lapsed_limits > 0")


def upgrade() -> None:
    op.create_index(
        "ix_issue_custody_lapsed_department",
        "issue_custody",
        ["department_id"],
        postgresql_where=LAPSED,
    )
    op.create_index(
        "ix_issue_custody_lapsed_board", "issue_custody", ["board_id"], postgresql_where=LAPSED
    )
    op.create_index("ix_issue_rating_department", "issue_rating", ["department_id"])
    op.create_index("ix_issue_rating_board", "issue_rating", ["board_id"])


def downgrade() -> None:
    op.drop_index("ix_issue_rating_board", table_name="issue_rating")
    op.drop_index("ix_issue_rating_department", table_name="issue_rating")
    op.drop_index("ix_issue_custody_lapsed_board", table_name="issue_custody")
    op.drop_index("ix_issue_custody_lapsed_department", table_name="issue_custody")
