"""七张问题清单 as pushes to each tier's application, replacing the four home-made kinds

Before, a leader "flagged" an issue onto its tier's problem lists under one of four kinds
(MAJOR, COMMON, DIFFICULT, RECURRING) that no source names: ``problem_list_entry`` rows that
went nowhere. The sources describe the 七张问题清单 as a separate provincial application of
each tier to which major problems are pushed and handled there, while the loop keeps
tracking them (closedloop.domain.problem_lists). ``problem_list_push`` holds each push: the
tier, the leader's reason, the delivery (through the outbox, channel ``PROBLEM_LIST``), the
application's receipt (``reference``) and the latest state it reported back.

Existing flags become pushes the leader already decided on: state ``PENDING`` with an outbox
row, so the relay delivers them once the tier's application is configured
(``CLOSEDLOOP_PROBLEM_LIST_ENDPOINTS``); a tier without one sees them fail and may push
again. The kind survives in the reason (``【重大问题】…``). Row-level security as every issue
child (migration 0012): the API reads and writes a push only through its issue; receipts
and reports are written by the system role (the relay, the callback).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"
# Rows hanging off an issue follow it (the sub-select is itself under the issue's policy).
ISSUE_CHILD = "EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)"
KIND_LABELS = {
    "MAJOR": "重大问题",
    "COMMON": "共性问题",
    "DIFFICULT": "疑难问题",
    "RECURRING": "反复反映问题",
}


def _kind_label_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in KIND_LABELS.items())
    return f"(CASE {column} {cases} ELSE {column} END)"


def upgrade() -> None:
    op.create_table(
        "problem_list_push",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("region_code", sa.Text(collation="C"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("pushed_by", sa.Integer(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issue.id"], name=op.f("fk_problem_list_push_issue_id_issue")
        ),
        sa.ForeignKeyConstraint(
            ["pushed_by"], ["account.id"], name=op.f("fk_problem_list_push_pushed_by_account")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_problem_list_push_region_code_region"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_list_push")),
        sa.UniqueConstraint("issue_id", "region_code", name="uq_problem_list_push_issue_region"),
        sa.UniqueConstraint("region_code", "reference", name="uq_problem_list_push_reference"),
    )
    op.create_index(
        "ix_problem_list_push_region", "problem_list_push", ["region_code", "id"], unique=False
    )
    op.execute("ALTER TABLE problem_list_push ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE problem_list_push FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY problem_list_push_system ON problem_list_push TO {SYSTEM}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY problem_list_push_select ON problem_list_push FOR SELECT TO {APP}"
        f" USING ({ISSUE_CHILD})"
    )
    op.execute(
        f"CREATE POLICY problem_list_push_insert ON problem_list_push FOR INSERT TO {APP}"
        f" WITH CHECK ({ISSUE_CHILD})"
    )
    # A push the outbox gave up on is queued again by the next leader's push (an UPDATE).
    op.execute(
        f"CREATE POLICY problem_list_push_update ON problem_list_push FOR UPDATE TO {APP}"
        f" USING ({ISSUE_CHILD}) WITH CHECK ({ISSUE_CHILD})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON problem_list_push TO {APP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON problem_list_push TO {SYSTEM}")
    op.execute(
        "DO $$ DECLARE seq text; BEGIN"
        " seq := pg_get_serial_sequence('problem_list_push', 'id');"
        f" EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {APP}, {SYSTEM}', seq);"
        " END $$"
    )
    # The flags become pushes the leaders already decided on, queued for delivery.
    op.execute(
        "INSERT INTO problem_list_push (issue_id, region_code, reason, pushed_by, pushed_at,"
        " state, updated_at)"
        f" SELECT issue_id, region_code, '【' || {_kind_label_sql('kind')} || '】'"
        " || coalesce(note, ''), flagged_by, flagged_at, 'PENDING', now()"
        " FROM problem_list_entry ORDER BY id"
    )
    op.execute(
        "INSERT INTO outbox (created_at, channel, recipient, topic, issue_id, payload,"
        " next_attempt_at)"
        " SELECT now(), 'PROBLEM_LIST', region_code, 'PROBLEM_LIST_PUSH', issue_id,"
        " jsonb_build_object('pushId', id), now() FROM problem_list_push ORDER BY id"
    )
    op.drop_index("ix_problem_list_entry_region", table_name="problem_list_entry")
    op.drop_table("problem_list_entry")


def downgrade() -> None:
    op.create_table(
        "problem_list_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("region_code", sa.Text(collation="C"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("flagged_by", sa.Integer(), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flagged_by"], ["account.id"], name=op.f("fk_problem_list_entry_flagged_by_account")
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issue.id"], name=op.f("fk_problem_list_entry_issue_id_issue")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_problem_list_entry_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_list_entry")),
        sa.UniqueConstraint("issue_id", "region_code", name="uq_problem_list_entry_issue_region"),
    )
    op.create_index(
        "ix_problem_list_entry_region",
        "problem_list_entry",
        ["region_code", "flagged_at"],
        unique=False,
    )
    op.execute("ALTER TABLE problem_list_entry ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE problem_list_entry FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY problem_list_entry_system ON problem_list_entry TO {SYSTEM}"
        " USING (true) WITH CHECK (true)"
    )
    for command, clause in (("SELECT", "USING"), ("INSERT", "WITH CHECK")):
        op.execute(
            f"CREATE POLICY problem_list_entry_{command.lower()} ON problem_list_entry"
            f" FOR {command} TO {APP} {clause} ({ISSUE_CHILD})"
        )
    op.execute(
        f"CREATE POLICY problem_list_entry_update ON problem_list_entry FOR UPDATE TO {APP}"
        f" USING ({ISSUE_CHILD}) WITH CHECK ({ISSUE_CHILD})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON problem_list_entry TO {APP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON problem_list_entry TO {SYSTEM}")
    op.execute(
        "DO $$ DECLARE seq text; BEGIN"
        " seq := pg_get_serial_sequence('problem_list_entry', 'id');"
        f" EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {APP}, {SYSTEM}', seq);"
        " END $$"
    )
    # Every push was a leader's decision to list the issue; its kind is not known.
    op.execute(
        "INSERT INTO problem_list_entry (issue_id, region_code, kind, note, flagged_by,"
        " flagged_at) SELECT issue_id, region_code, 'MAJOR', reason, pushed_by, pushed_at"
        " FROM problem_list_push ORDER BY id"
    )
    op.execute("DELETE FROM outbox WHERE channel = 'PROBLEM_LIST' AND delivered_at IS NULL")
    op.drop_index("ix_problem_list_push_region", table_name="problem_list_push")
    op.drop_table("problem_list_push")
