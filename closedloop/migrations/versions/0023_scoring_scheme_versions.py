"""scoring schemes as data: versions uploaded through the API, activated from a period

``scoring_scheme_version`` holds each uploaded scheme document (as validated), its version
label, who uploaded it and when, and its state: ``DRAFT``; ``ACTIVE`` from a period (its
first day in ``effective_from``, its label in ``effective_period``), by whom and when; or
``SUPERSEDED`` (another version was activated from the same period). Scores of a period use
the active version with the latest ``effective_from`` on or before the period's first day;
a key no active version covers is served from the package's or CLOSEDLOOP_SCHEME_DIR's files.

Like ``webhook_endpoint`` (migration 0016), the table is the system role's alone, row-level
security forced (who uploaded and activated a version is named, as in the audit log, which
also keeps the account's id): the API checks the policy (``scheme.read``, ``scheme.upload``,
``scheme.activate``) and reads and writes as the system; the request role holds no
privilege on it. A trigger announces every change of an activated version on
``closedloop_scheme_changes`` when it commits, so every API process reloads the versions in
force at once (``closedloop.services.schemes.catalog``).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SYSTEM = "closedloop_system"
CHANNEL = "closedloop_scheme_changes"  # closedloop.services.event_bus.SCHEME_CHANNEL


def upgrade() -> None:
    op.create_table(
        "scoring_scheme_version",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("scheme_key", sa.Text, nullable=False),
        sa.Column("version_label", sa.Text, nullable=False),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column(
            "region_code", sa.Text(collation="C"), sa.ForeignKey("region.code"), nullable=False
        ),
        sa.Column("state", sa.Text, nullable=False, server_default="DRAFT"),
        sa.Column("effective_from", sa.Date, nullable=True),
        sa.Column("effective_period", sa.Text, nullable=True),
        sa.Column("uploaded_by_name", sa.Text, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_by_name", sa.Text, nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint(
            "state in ('DRAFT','ACTIVE','SUPERSEDED')", name="ck_scoring_scheme_version_state"
        ),
        sa.CheckConstraint(
            "(state = 'DRAFT') = (effective_from is null)",
            name="ck_scoring_scheme_version_effective",
        ),
        sa.UniqueConstraint("scheme_key", "version_label", name="uq_scoring_scheme_version_label"),
    )
    op.create_index(
        "ix_scoring_scheme_version_in_force",
        "scoring_scheme_version",
        ["scheme_key", "effective_from"],
        unique=True,
        postgresql_where=sa.text("state = 'ACTIVE'"),
    )
    op.execute("ALTER TABLE scoring_scheme_version ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE scoring_scheme_version FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON scoring_scheme_version TO {SYSTEM}")
    op.execute(
        f"""
        DO $$ BEGIN
          EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {SYSTEM}',
            pg_get_serial_sequence('scoring_scheme_version', 'id'));
        END $$
        """
    )
    op.execute(
        f"CREATE POLICY scoring_scheme_version_system ON scoring_scheme_version TO {SYSTEM}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"""
        CREATE FUNCTION scoring_scheme_changed_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state <> 'DRAFT' OR (TG_OP = 'UPDATE' AND OLD.state <> 'DRAFT') THEN
                PERFORM pg_notify('{CHANNEL}', NEW.scheme_key);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER scoring_scheme_changed AFTER INSERT OR UPDATE ON scoring_scheme_version"
        " FOR EACH ROW EXECUTE FUNCTION scoring_scheme_changed_notify()"
    )


def downgrade() -> None:
    op.drop_table("scoring_scheme_version")
    op.execute("DROP FUNCTION scoring_scheme_changed_notify()")
