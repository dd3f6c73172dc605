"""custody with the unit that held it; every rating kept

``issue_custody`` gains the board or department of each holding span and the count of the
time limits that lapsed in it (``closedloop.domain.custody``); ``issue_rating`` keeps every
rating an enterprise gave, for the resolution it rated.

Backfill of existing rows:
- a board-level span takes the unit of the issue's latest assignment at or before its start
  (the ``ASSIGNED`` event's payload);
- late time was booked to whoever held the issue while it was late: each run of consecutive
  spans with late time is one lapsed limit, charged (its time and the lapse) to the run's
  first span, the one that held the issue when the limit passed;
- every ``RATED`` event becomes a rating of the resolution before it (ordinal = resolutions
  so far), held by the span that held the issue at that resolution.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

CHILD_VISIBLE = "EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)"


def upgrade() -> None:
    op.add_column("issue_custody", sa.Column("board_id", sa.Integer(), nullable=True))
    op.add_column("issue_custody", sa.Column("department_id", sa.Integer(), nullable=True))
    op.add_column(
        "issue_custody",
        sa.Column("lapsed_limits", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_foreign_key(
        op.f("fk_issue_custody_board_id_board"), "issue_custody", "board", ["board_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_issue_custody_department_id_department"),
        "issue_custody",
        "department",
        ["department_id"],
        ["id"],
    )
    op.execute(
        """
        UPDATE issue_custody k SET (board_id, department_id) = (
          SELECT (e.payload->>'boardId')::int, (e.payload->>'departmentId')::int
          FROM issue_event e
          WHERE e.issue_id = k.issue_id AND e.type = 'ASSIGNED' AND e.occurred_at <= k.started_at
          ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1
        )
        WHERE k.handling_level = 'BOARD'
        """
    )
    op.execute(
        """
        WITH r AS (
          SELECT id, issue_id, overdue_seconds,
                 coalesce(lag(overdue_seconds) OVER (PARTITION BY issue_id ORDER BY id), 0) AS prev
          FROM issue_custody
        ), runs AS (
          SELECT id, issue_id, overdue_seconds,
                 sum(CASE WHEN overdue_seconds > 0 AND prev = 0 THEN 1 ELSE 0 END)
                   OVER (PARTITION BY issue_id ORDER BY id) AS run
          FROM r
        ), heads AS (
          SELECT issue_id, run, min(id) AS head, sum(overdue_seconds) AS late
          FROM runs WHERE overdue_seconds > 0 GROUP BY issue_id, run
        )
        UPDATE issue_custody k SET
          overdue_seconds = CASE WHEN k.id = h.head THEN h.late ELSE 0 END,
          lapsed_limits = CASE WHEN k.id = h.head THEN 1 ELSE 0 END
        FROM runs x JOIN heads h ON h.issue_id = x.issue_id AND h.run = x.run
        WHERE k.id = x.id AND x.overdue_seconds > 0
        """
    )

    op.create_table(
        "issue_rating",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region_code", sa.Text(collation="C"), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_by", sa.Integer(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issue.id"], name=op.f("fk_issue_rating_issue_id_issue")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_issue_rating_region_code_region")
        ),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_issue_rating_board_id_board")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_issue_rating_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["rated_by"], ["account.id"], name=op.f("fk_issue_rating_rated_by_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_rating")),
        sa.UniqueConstraint("issue_id", "resolution", name="uq_issue_rating_issue_resolution"),
    )
    op.execute(
        """
        INSERT INTO issue_rating (issue_id, resolution, resolved_at, region_code, board_id,
                                  department_id, grade, comment, rated_by, rated_at)
        SELECT e.issue_id, res.n, res.at, coalesce(k.region_code, i.holding_region_code),
               k.board_id, k.department_id, e.payload->>'grade', e.message, e.actor_id,
               e.occurred_at
        FROM issue_event e
        JOIN issue i ON i.id = e.issue_id
        CROSS JOIN LATERAL (
          SELECT count(*)::int AS n, max(r.occurred_at) AS at FROM issue_event r
          WHERE r.issue_id = e.issue_id AND r.type IN ('RESOLVED', 'SETTLED_IN_CHANNEL')
            AND r.id < e.id
        ) res
        LEFT JOIN LATERAL (
          SELECT c.region_code, c.board_id, c.department_id FROM issue_custody c
          WHERE c.issue_id = e.issue_id AND c.started_at <= res.at
          ORDER BY c.id DESC LIMIT 1
        ) k ON true
        WHERE e.type = 'RATED' AND res.n > 0
        ON CONFLICT DO NOTHING
        """
    )
    op.execute("ALTER TABLE issue_rating ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE issue_rating FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY issue_rating_select ON issue_rating FOR SELECT USING ({CHILD_VISIBLE})"
    )
    op.execute("CREATE POLICY issue_rating_insert ON issue_rating FOR INSERT WITH CHECK (true)")
    op.execute(
        f"CREATE POLICY issue_rating_update ON issue_rating FOR UPDATE USING ({CHILD_VISIBLE})"
    )


def downgrade() -> None:
    op.drop_table("issue_rating")
    op.drop_constraint(
        op.f("fk_issue_custody_department_id_department"), "issue_custody", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_issue_custody_board_id_board"), "issue_custody", type_="foreignkey")
    op.drop_column("issue_custody", "lapsed_limits")
    op.drop_column("issue_custody", "department_id")
    op.drop_column("issue_custody", "board_id")
