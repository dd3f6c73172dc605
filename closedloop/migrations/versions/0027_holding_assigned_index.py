"""an index for a region's department scores: its units' issues assigned in the period

A department scoreboard books to the unit holding an issue what was assigned to it in the
period (A3: ``holding_region_code = the group's region`` and ``assigned_at`` in the period,
``services.evaluation.attribution._department_statement``). The only index leading with the
holding region also led with ``state``: PostgreSQL read every issue the region's units ever
held and filtered by the period. For 湖州's 2026-Q3 at 1M issues that part read 16,129
issues on 14,666 heap pages to keep 2,083 (68 ms); with this index it reads 2,368 entries
and 2,211 pages (10 ms); the scores request (GraphQL, in-process) 179 → 131 ms at 1M and
195 → 145 ms at 10M national (medians of 3 interleaved pairs; ``bench/RESULTS.md``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_issue_holding_assigned", "issue", ["holding_region_code", "assigned_at"])


def downgrade() -> None:
    op.drop_index("ix_issue_holding_assigned", table_name="issue")
