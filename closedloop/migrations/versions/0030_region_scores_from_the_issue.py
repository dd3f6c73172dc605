"""a region's scores read each issue once: its ratings counted on its row, one index

A city's county ranking (``services.evaluation.attribution._region_statement``) counts the
period's issues originating in each child region. At 1M issues (湖州, a quarter: 34,000
issues) its statement spent ~450 ms: about half probing each issue's ratings, where every
rating read is checked by the rating policy against its issue (an index probe of the issue
and the issue's policy, 24,000 times); a quarter probing each resolved issue's custody
spans for a lapse (A6), every span read from the heap; the rest reading the issues from the
heap (6,000-10,000 pages, mostly outside shared buffers).

- ``issue`` counts its ratings on record by grade (``ratings_<grade>``), kept by a trigger
  on ``issue_rating``: a region's scores sum them from the issue's row. The trigger runs as
  the writer and refuses a rating whose issue the writer may not update (the rating command
  updates that issue anyway), so the counts are exact or the write fails.
- ``ix_issue_origin_created`` carries what the region's scores and the issue policy read,
  so the period's issues come from the index alone (an index-only scan).
- ``ix_issue_custody_lapsed_issue``: each issue's lapsed spans, few, by issue.

The backfill rewrites every rated issue's row (686,121 of 1M: 56 s); on a large database,
``VACUUM`` the issue table afterwards and rebuild ``ix_issue_origin_created``, which this
transaction builds with the old row versions still in it (239 MB against 139 MB at 1M).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

# The grades as of this revision (``domain.schemes.RATING_GRADES``); a new grade needs a
# migration adding its column, and until then the trigger refuses it.
GRADES = ("SATISFIED", "FAIRLY_SATISFIED", "BASICALLY_SATISFIED", "UNSATISFIED")
COUNTS = {grade: f"ratings_{grade.lower()}" for grade in GRADES}
POLICY_COLUMNS = ("enterprise_id", "board_id", "department_id", "submitted_by")
SCORED_COLUMNS = (
    "id",
    "holding_region_code",
    "state",
    "proactive",
    "recurred",
    "assigned_at",
    "assign_overdue",
    "resolved_at",
    "overdue",
    "rating",
    *COUNTS.values(),
    *POLICY_COLUMNS,
)
FUNCTION = "closedloop_issue_rating_counts()"
REFUSED = "a rating names an issue that does not exist or is outside the writer''s scope"
TRUNCATED = "closedloop_issue_rating_truncated()"


def _bump(row: str, sign: str) -> str:
    sets = ", ".join(
        f"{column} = {column} + CASE WHEN {row}.grade = '{grade}' THEN {sign} ELSE 0 END"
        for grade, column in COUNTS.items()
    )
    grades = ", ".join(f"'{g}'" for g in GRADES)
    return f"""
          IF {row}.grade NOT IN ({grades}) THEN
            RAISE EXCEPTION 'a rating of unknown grade %', {row}.grade
              USING ERRCODE = 'check_violation';
          END IF;
          UPDATE issue SET {sets} WHERE id = {row}.issue_id;
          IF NOT FOUND THEN
            RAISE EXCEPTION '{REFUSED}'
              USING ERRCODE = 'foreign_key_violation',
                    CONSTRAINT = 'fk_issue_rating_issue_id_issue';
          END IF;"""


def upgrade() -> None:
    for column in COUNTS.values():
        op.add_column("issue", sa.Column(column, sa.Integer(), server_default="0", nullable=False))
    counted = ", ".join(
        f"count(*) FILTER (WHERE grade = '{grade}') AS {column}" for grade, column in COUNTS.items()
    )
    op.execute(
        f"""
        UPDATE issue i SET {", ".join(f"{c} = r.{c}" for c in COUNTS.values())}
        FROM (SELECT issue_id, {counted} FROM issue_rating GROUP BY issue_id) r
        WHERE i.id = r.issue_id
        """
    )
    # Row by row: ratings are written one at a time, by the rating command.
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION} RETURNS trigger
        LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN{_bump("OLD", "-1")}
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN{_bump("NEW", "1")}
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER issue_rating_counts AFTER INSERT OR DELETE OR UPDATE OF issue_id, grade"
        f" ON issue_rating FOR EACH ROW EXECUTE FUNCTION {FUNCTION}"
    )
    zero = ", ".join(f"{c} = 0" for c in COUNTS.values())
    any_counted = " OR ".join(f"{c} <> 0" for c in COUNTS.values())
    op.execute(
        f"""
        CREATE FUNCTION {TRUNCATED} RETURNS trigger
        LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
        BEGIN
          UPDATE issue SET {zero} WHERE {any_counted};
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER issue_rating_counts_truncate AFTER TRUNCATE ON issue_rating"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {TRUNCATED}"
    )
    op.drop_index("ix_issue_origin_created", table_name="issue")
    op.create_index(
        "ix_issue_origin_created",
        "issue",
        ["origin_region_code", "created_at"],
        postgresql_include=list(SCORED_COLUMNS),
    )
    op.create_index(
        "ix_issue_custody_lapsed_issue",
        "issue_custody",
        ["issue_id"],
        postgresql_include=["region_code"],
        postgresql_where=sa.text("lapsed_limits > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_issue_custody_lapsed_issue", table_name="issue_custody")
    op.drop_index("ix_issue_origin_created", table_name="issue")
    op.create_index("ix_issue_origin_created", "issue", ["origin_region_code", "created_at"])
    op.execute("DROP TRIGGER issue_rating_counts_truncate ON issue_rating")
    op.execute(f"DROP FUNCTION {TRUNCATED}")
    op.execute("DROP TRIGGER issue_rating_counts ON issue_rating")
    op.execute(f"DROP FUNCTION {FUNCTION}")
    for column in reversed(COUNTS.values()):
        op.drop_column("issue", column)
