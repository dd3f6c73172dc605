"""the pool index covers its count: an index-only scan instead of a heap visit per row

Every pool page also counts the pool. Row-level security and the visibility predicate read
``origin_region_code``, ``enterprise_id``, ``board_id`` and ``department_id`` of each
counted issue, which ``ix_issue_pool`` did not hold: at 1M issues the count of a county's
pool (2,198 open issues) visited 1,944 heap pages, 2.8 of the statement's 3.2 ms in
PostgreSQL. With those columns included, the count is an index-only scan (0.7 ms for the
whole statement); ``state`` is included too, for pool pages that also filter by state. The
keys and the predicate are unchanged, so the page itself keeps its ordered scan.

The new index is built beside the old one and takes its name: reads of ``issue`` go on
while it is built (writes wait: the pool's index covers open issues only, a small build),
and the old one is dropped only at the end, under a short exclusive lock.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = "('SUBMITTED','ACCEPTED','ASSIGNED','IN_PROGRESS','REOPENED')"
KEYS = "issue (holding_region_code, created_at DESC, id DESC)"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX ix_issue_pool_covering ON {KEYS}"
        " INCLUDE (state, origin_region_code, enterprise_id, board_id, department_id)"
        f" WHERE state IN {OPEN}"
    )
    op.execute("DROP INDEX ix_issue_pool")
    op.execute("ALTER INDEX ix_issue_pool_covering RENAME TO ix_issue_pool")


def downgrade() -> None:
    op.execute(f"CREATE INDEX ix_issue_pool_plain ON {KEYS} WHERE state IN {OPEN}")
    op.execute("DROP INDEX ix_issue_pool")
    op.execute("ALTER INDEX ix_issue_pool_plain RENAME TO ix_issue_pool")
