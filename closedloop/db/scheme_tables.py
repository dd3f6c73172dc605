"""The scoring scheme versions' table (migration 0023), on the tables' metadata: kept apart
from ``tables`` (a module of at most 600 lines); ``closedloop.db`` imports it, so whoever
reads ``tables.metadata`` sees it too."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from closedloop.db.tables import TZ, RegionCode, metadata

# The system role's alone: the API checks the policy (scheme.read / .upload / .activate).
scoring_scheme_version = sa.Table(
    "scoring_scheme_version",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("scheme_key", sa.Text, nullable=False),  # the document's "scheme"
    sa.Column("version_label", sa.Text, nullable=False),
    sa.Column("document", pg.JSONB, nullable=False),  # as validated
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="DRAFT"),
    sa.Column("effective_from", sa.Date, nullable=True),  # the first day of the period
    sa.Column("effective_period", sa.Text, nullable=True),  # that period, e.g. 2027-Q1
    sa.Column("uploaded_by_name", sa.Text, nullable=False),
    sa.Column("uploaded_at", TZ, nullable=False),
    sa.Column("activated_by_name", sa.Text, nullable=True),
    sa.Column("activated_at", TZ, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("state in ('DRAFT','ACTIVE','SUPERSEDED')", name="state"),
    sa.CheckConstraint("(state = 'DRAFT') = (effective_from is null)", name="effective"),
    sa.UniqueConstraint("scheme_key", "version_label", name="uq_scoring_scheme_version_label"),
    sa.Index(  # one version in force from a given period per scheme
        "ix_scoring_scheme_version_in_force",
        "scheme_key",
        "effective_from",
        unique=True,
        postgresql_where=sa.text("state = 'ACTIVE'"),
    ),
)
