"""a monthly rollup of the dashboard's figures per origin county, kept exact by triggers

The cockpit of a province or a city for a quarter aggregated hundreds of thousands of issues
per request (2-7 s at 1,000,000 issues). ``issue_rollup`` holds, for every Beijing month and
origin county ("slice"), the dashboard's marginals: the total, by town, state, holding tier,
board key, department key and tag. A trigger on ``issue`` appends the slices a write touches
to ``issue_rollup_dirty``; whoever reads the rollup first recomputes the dirty slices
(``closedloop.services.evaluation.rollup``), so the figures are exact, never stale.

Every existing slice is marked dirty here; the first refresh computes them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STAFF = "'CENTER_STAFF','LEADER','EVALUATOR','PROVINCE_MONITOR','ADMIN'"
ROLE = "(SELECT current_setting('closedloop.role', true))"
REGION = "(SELECT current_setting('closedloop.region', true))"
COUNTERS = (
    "total",
    "proactive",
    "handled",
    "resolved",
    "overdue_resolved",
    "recurred",
    "responded_on_time",
    "unrated_resolved",
    "rating_satisfied",
    "rating_fairly_satisfied",
    "rating_basically_satisfied",
    "rating_unsatisfied",
    "rows",
    "merged",
    "open",
)
RUNNING_CLOCK_INCLUDE = (
    "id",
    "enterprise_id",
    "holding_region_code",
    "state",
    "board_id",
    "department_id",
    "warn_at",
    "due_at",
)
# Only the columns the figures read: the sweeper's light bookkeeping, notes and urges do
# not dirty a slice.
WATCHED = (
    "created_at",
    "origin_region_code",
    "holding_region_code",
    "state",
    "proactive",
    "overdue",
    "recurred",
    "rating",
    "assigned_at",
    "assign_overdue",
    "resolved_at",
    "board_id",
    "department_id",
    "tags",
)


def upgrade() -> None:
    # The slice of an issue: its Beijing month and its origin county (a city's or the
    # province's own issues form the slice of that city / the province).
    op.execute(
        "CREATE FUNCTION closedloop_month(at timestamptz) RETURNS date"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS"
        " $$ SELECT date_trunc('month', at AT TIME ZONE 'Asia/Shanghai')::date $$"
    )
    op.create_table(
        "issue_rollup",
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("county_code", sa.Text(collation="C"), nullable=False),
        sa.Column("dimension", sa.Text, nullable=False),
        sa.Column("value", sa.Text(collation="C"), nullable=False),
        sa.Column("name_zh", sa.Text, nullable=True),
        sa.Column("name_en", sa.Text, nullable=True),
        *(sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in COUNTERS),
        sa.PrimaryKeyConstraint(
            "county_code", "month", "dimension", "value", name="pk_issue_rollup"
        ),
    )
    # Each part of a dashboard's read takes one dimension for a range of months and counties.
    op.create_index(
        "ix_issue_rollup_dimension", "issue_rollup", ["dimension", "month", "county_code"]
    )
    op.create_table(
        "issue_rollup_dirty",
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("county_code", sa.Text(collation="C"), nullable=False),
    )
    # A slice is recomputed from an index range: the county's origin codes, then the month.
    op.create_index("ix_issue_origin_created", "issue", ["origin_region_code", "created_at"])
    # The lights stay live (they depend on the request's clock): an index-only scan of the
    # running clocks of a region's subtree, covering what the figures and row-level
    # security read.
    op.execute(
        "CREATE INDEX ix_issue_running_clock ON issue (origin_region_code, created_at)"
        f" INCLUDE ({', '.join(RUNNING_CLOCK_INCLUDE)}) WHERE clock_kind IS NOT NULL"
    )
    op.execute(
        """
        CREATE FUNCTION closedloop_rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' THEN
            INSERT INTO issue_rollup_dirty (month, county_code)
            VALUES (closedloop_month(OLD.created_at), left(OLD.origin_region_code, 6));
          END IF;
          IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT'
              OR closedloop_month(OLD.created_at) <> closedloop_month(NEW.created_at)
              OR left(OLD.origin_region_code, 6) <> left(NEW.origin_region_code, 6)) THEN
            INSERT INTO issue_rollup_dirty (month, county_code)
            VALUES (closedloop_month(NEW.created_at), left(NEW.origin_region_code, 6));
          END IF;
          RETURN NULL;
        END $$
        """
    )
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)
    op.execute(
        "CREATE TRIGGER issue_rollup_insert_delete AFTER INSERT OR DELETE ON issue"
        " FOR EACH ROW EXECUTE FUNCTION closedloop_rollup_mark()"
    )
    op.execute(
        "CREATE TRIGGER issue_rollup_update AFTER UPDATE ON issue"
        f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION closedloop_rollup_mark()"
    )
    # TRUNCATE fires no row triggers: empty the rollup with the issues.
    op.execute(
        """
        CREATE FUNCTION closedloop_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM issue_rollup;
          DELETE FROM issue_rollup_dirty;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER issue_rollup_truncate AFTER TRUNCATE ON issue"
        " FOR EACH STATEMENT EXECUTE FUNCTION closedloop_rollup_truncate()"
    )
    # The rollup is read like the issues it sums: staff of R read the slices of R's
    # subtree (a town's dashboard never reads it); only the system writes it.
    op.execute("ALTER TABLE issue_rollup ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY issue_rollup_select ON issue_rollup FOR SELECT USING (CASE"
        f" WHEN {ROLE} = 'SYSTEM' THEN true"
        f" WHEN {ROLE} IN ({STAFF}) AND {REGION} <> '' THEN starts_with(county_code, {REGION})"
        " ELSE false END)"
    )
    op.execute(
        "CREATE POLICY issue_rollup_write ON issue_rollup FOR ALL"
        f" USING ({ROLE} = 'SYSTEM') WITH CHECK ({ROLE} = 'SYSTEM')"
    )
    op.execute(
        "INSERT INTO issue_rollup_dirty (month, county_code)"
        " SELECT DISTINCT closedloop_month(created_at), left(origin_region_code, 6) FROM issue"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER issue_rollup_truncate ON issue")
    op.execute("DROP TRIGGER issue_rollup_update ON issue")
    op.execute("DROP TRIGGER issue_rollup_insert_delete ON issue")
    op.execute("DROP FUNCTION closedloop_rollup_truncate()")
    op.execute("DROP FUNCTION closedloop_rollup_mark()")
    op.drop_index("ix_issue_running_clock", "issue")
    op.drop_index("ix_issue_origin_created", "issue")
    op.drop_table("issue_rollup_dirty")
    op.drop_table("issue_rollup")
    op.execute("DROP FUNCTION closedloop_month(timestamptz)")
