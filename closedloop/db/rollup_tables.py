"""The dashboard rollup's tables and the scoring counters' column names (split from
``tables``, which re-exports them: callers read them as ``tables.issue_rollup``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import sqlalchemy as sa

from closedloop.db.metadata import RegionCode, metadata
from closedloop.domain.schemes import BASE_COUNTERS, RATING_GRADES

# The scoring counters (``closedloop.domain.scoring.Counters``) as column names: of the
# aggregates that count them (``services.evaluation.attribution``) and of the rollup.
RATING_COLUMNS: Mapping[str, str] = MappingProxyType(
    {grade: f"rating_{grade.lower()}" for grade in RATING_GRADES}
)
# Per grade, the issue's column counting its ratings of that grade on record, kept by a
# trigger on ``issue_rating`` (migration 0030).
ISSUE_RATING_COUNTS: Mapping[str, str] = MappingProxyType(
    {grade: f"ratings_{grade.lower()}" for grade in RATING_GRADES}
)
COUNTER_COLUMNS = (*BASE_COUNTERS, *RATING_COLUMNS.values())
# The dashboard also counts every row (merged duplicates included), the merged and the open.
ROLLUP_COUNTERS = (*COUNTER_COLUMNS, "rows", "merged", "open")

# The dashboard's figures per (Beijing month, origin county) slice and marginal
# (``closedloop.services.evaluation.rollup``); migration 0007 adds its triggers and policies.
issue_rollup = sa.Table(
    "issue_rollup",
    metadata,
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("county_code", RegionCode, nullable=False),
    sa.Column("dimension", sa.Text, nullable=False),
    sa.Column("value", RegionCode, nullable=False),
    sa.Column("name_zh", sa.Text, nullable=True),
    sa.Column("name_en", sa.Text, nullable=True),
    *(sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in ROLLUP_COUNTERS),
    sa.PrimaryKeyConstraint("county_code", "month", "dimension", "value", name="pk_issue_rollup"),
    sa.Index("ix_issue_rollup_dimension", "dimension", "month", "county_code"),
)

# Slices written since their last refresh (appended by a trigger on ``issue``).
issue_rollup_dirty = sa.Table(
    "issue_rollup_dirty",
    metadata,
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("county_code", RegionCode, nullable=False),
)

# The generation of each slice's last refresh (migration 0019): a kept dashboard is served
# again while the largest generation of its slices is unchanged and none is dirty.
issue_rollup_slice = sa.Table(
    "issue_rollup_slice",
    metadata,
    sa.Column("county_code", RegionCode, nullable=False),
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("county_code", "month", name="pk_issue_rollup_slice"),
)
ROLLUP_GENERATION = sa.Sequence("issue_rollup_generation", metadata=metadata)
