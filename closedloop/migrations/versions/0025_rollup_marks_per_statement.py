"""The rollup's dirty marks of new issues written once per statement

Every new issue marked its rollup slice (month, county) dirty through a row trigger: one
PL/pgSQL call and one ``INSERT INTO issue_rollup_dirty`` per issue. The bulk import writes
a batch's issues in one statement, so a batch of 2,000 issues wrote 2,000 marks, nearly all
the same few slices. Now an insert statement marks each slice it touched once, from its
transition table (the marks are a set to their reader, ``evaluation.rollup.refresh_on``;
an issue inserted alone still writes its one mark). Deleted and updated issues keep the row
trigger (they need the old row beside the new one).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

SYSTEM = "closedloop_system"


def upgrade() -> None:
    op.execute("DROP TRIGGER issue_rollup_insert_delete ON issue")
    op.execute(
        "CREATE TRIGGER issue_rollup_delete AFTER DELETE ON issue"
        " FOR EACH ROW EXECUTE FUNCTION closedloop_rollup_mark()"
    )
    op.execute(
        """
        CREATE FUNCTION closedloop_rollup_mark_inserted() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          INSERT INTO issue_rollup_dirty (month, county_code)
          SELECT DISTINCT closedloop_month(created_at), left(origin_region_code, 6)
          FROM new_issues;
          RETURN NULL;
        END $$
        """
    )
    # Writes as the system, whoever inserted the issues (as ``closedloop_rollup_mark``).
    op.execute(f"ALTER FUNCTION closedloop_rollup_mark_inserted() OWNER TO {SYSTEM}")
    op.execute("REVOKE ALL ON FUNCTION closedloop_rollup_mark_inserted() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER issue_rollup_insert AFTER INSERT ON issue"
        " REFERENCING NEW TABLE AS new_issues"
        " FOR EACH STATEMENT EXECUTE FUNCTION closedloop_rollup_mark_inserted()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER issue_rollup_insert ON issue")
    op.execute("DROP FUNCTION closedloop_rollup_mark_inserted()")
    op.execute("DROP TRIGGER issue_rollup_delete ON issue")
    op.execute(
        "CREATE TRIGGER issue_rollup_insert_delete AFTER INSERT OR DELETE ON issue"
        " FOR EACH ROW EXECUTE FUNCTION closedloop_rollup_mark()"
    )
