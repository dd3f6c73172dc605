"""Table definitions (SQLAlchemy Core). Migrations in ``closedloop/migrations`` create them.

Region codes use the C collation so a btree range (``code >= p AND code < p||'~'``)
serves subtree scope without any extension.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

RegionCode = sa.Text(collation="C")
TZ = sa.DateTime(timezone=True)

region = sa.Table(
    "region",
    metadata,
    sa.Column("code", RegionCode, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("parent_code", RegionCode, sa.ForeignKey("region.code"), nullable=True),
    sa.CheckConstraint("level in ('PROVINCE','CITY','COUNTY','TOWN')", name="level"),
    sa.CheckConstraint("parent_code is null or starts_with(code, parent_code)", name="prefix"),
    sa.Index("ix_region_parent_code", "parent_code"),
)

center = sa.Table(
    "center",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
)

board = sa.Table(
    "board",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name_zh", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    sa.Column("lead_department_key", sa.Text, nullable=True),
    sa.UniqueConstraint("region_code", "key", name="uq_board_region_key"),
)

department = sa.Table(
    "department",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name_zh", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    # The 16 key departments are scored; the "+N" ones are not.
    sa.Column("is_key", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("region_code", "key", name="uq_department_region_key"),
)

enterprise = sa.Table(
    "enterprise",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("credit_code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("contact_phone", sa.Text, nullable=True),
    sa.Index("ix_enterprise_region_code", "region_code"),
)

account = sa.Table(
    "account",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=True),
    sa.Column("board_id", sa.Integer, sa.ForeignKey("board.id"), nullable=True),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id"), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.CheckConstraint(
        "(role = 'ENTERPRISE') = (enterprise_id is not null)", name="enterprise_binding"
    ),
    sa.CheckConstraint("role = 'ENTERPRISE' or region_code is not null", name="staff_region"),
)
