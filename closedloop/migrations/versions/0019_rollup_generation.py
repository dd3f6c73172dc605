"""issue_rollup_slice: a generation per rollup slice, so a computed dashboard can be kept

A dashboard is the same answer until a write reaches one of its slices (or the clock crosses
a light's mark). ``issue_rollup_slice`` holds, per (origin county, Beijing month) slice, the
generation of its last refresh, from the sequence ``issue_rollup_generation``: every
refresh stamps the slices it recomputed with a new, larger number. A process that keeps a
dashboard (``closedloop.services.evaluation.dashboard_cache``) remembers the largest
generation of its slices; it may serve it again while that is still the largest and no
slice of it is dirty: then no write has reached its slices since (a write leaves a dirty
mark until a refresh, and a refresh raises the generation). The rule holds in every
process and on every host, since it is read from the database.

The lights are counted live from the issues' clocks, so the update trigger now also
watches ``clock_kind``, ``warn_at`` and ``due_at``: a clock stopped, started or moved
dirties its slice like any other change a dashboard reads.

TRUNCATE of ``issue`` (tests) raises the generation of every slice it empties.

``closedloop_rollup_state(low, high, first_month, end_month)`` answers a range of slices'
state (any dirty mark, the largest generation) and nothing else: a SECURITY DEFINER
function owned by ``closedloop_system``, so that a request reads it in the transaction
that reads its reference rows, without a privilege on either table (as
``closedloop_principal``, migration 0012). The county range comes from the caller
(``tenancy.scope.in_subtree``'s bounds), so the subtree rule keeps its one home.

Bookkeeping of the system's own work, like ``periodic_run``: no row-level security, and no
privilege for the request role.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"
# The columns migration 0007 watches (what the rollup's figures read), plus the clock
# (what the live lights read).
FIGURES = (
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
CLOCK = ("clock_kind", "warn_at", "due_at")
STATE = "closedloop_rollup_state"


def _update_trigger(columns: tuple[str, ...]) -> None:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    op.execute("DROP TRIGGER issue_rollup_update ON issue")
    op.execute(
        "CREATE TRIGGER issue_rollup_update AFTER UPDATE ON issue"
        f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION closedloop_rollup_mark()"
    )


def upgrade() -> None:
    op.execute("CREATE SEQUENCE issue_rollup_generation")
    op.create_table(
        "issue_rollup_slice",
        sa.Column("county_code", sa.Text(collation="C"), nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("county_code", "month", name="pk_issue_rollup_slice"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON issue_rollup_slice TO {SYSTEM}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE issue_rollup_generation TO {SYSTEM}")
    op.execute(f"REVOKE ALL ON issue_rollup_slice FROM {APP}")
    # The slices refreshed so far: one generation for all of them.
    op.execute(
        "INSERT INTO issue_rollup_slice (county_code, month, generation)"
        " SELECT county_code, month, (SELECT nextval('issue_rollup_generation'))"
        " FROM (SELECT DISTINCT county_code, month FROM issue_rollup) AS s"
    )
    _update_trigger(FIGURES + CLOCK)
    op.execute(
        f"""
        CREATE FUNCTION {STATE}(low text, high text, first_month date, end_month date,
          OUT dirty boolean, OUT generation bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT EXISTS (
                   SELECT 1 FROM issue_rollup_dirty
                   WHERE county_code >= low AND county_code < high
                     AND month >= first_month AND month < end_month),
                 (SELECT max(s.generation) FROM issue_rollup_slice s
                   WHERE s.county_code >= low AND s.county_code < high
                     AND s.month >= first_month AND s.month < end_month)
        $$
        """
    )
    op.execute(f"ALTER FUNCTION {STATE}(text, text, date, date) OWNER TO {SYSTEM}")
    op.execute(f"REVOKE ALL ON FUNCTION {STATE}(text, text, date, date) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {STATE}(text, text, date, date) TO {APP}, {SYSTEM}")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION closedloop_rollup_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO issue_rollup_slice (county_code, month, generation)
          SELECT county_code, month, (SELECT nextval('issue_rollup_generation'))
          FROM (SELECT DISTINCT county_code, month FROM issue_rollup) AS s
          ON CONFLICT (county_code, month) DO UPDATE SET generation = excluded.generation;
          DELETE FROM issue_rollup;
          DELETE FROM issue_rollup_dirty;
          RETURN NULL;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {STATE}(text, text, date, date)")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION closedloop_rollup_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM issue_rollup;
          DELETE FROM issue_rollup_dirty;
          RETURN NULL;
        END $$
        """
    )
    _update_trigger(FIGURES)
    op.drop_table("issue_rollup_slice")
    op.execute("DROP SEQUENCE issue_rollup_generation")
