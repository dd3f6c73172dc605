"""the two region indexes cover what row-level security reads: a count in a scope without
the table

A list's ``totalCount`` in a region's scope (a county center's library: every issue raised
in the county or held there) was one bitmap scan over both region indexes and a visit to
every counted issue's heap page, since row-level security and the visibility predicate read
``enterprise_id``, ``board_id``, ``department_id`` and ``submitted_by`` of each row. In a
national data set a county's issues are scattered over the whole table: at 10M issues
德清's count (169,139 issues) visited 59,983 heap pages, 750 ms (260 ms at 1M 浙江;
``bench/RESULTS.md``). With those columns (and the other region, and ``state``) included,
``queries.count_statement`` counts each region column's share with an index-only scan.

Each index is built beside the old one and takes its name (as 0008 did): reads go on while
it is built; writes to ``issue`` wait for the build (about a minute per index at 10M).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

POLICY = "enterprise_id, board_id, department_id, submitted_by"
INDEXES = {
    # name: (keys, included columns)
    "ix_issue_holding_state": ("holding_region_code, state, id", f"origin_region_code, {POLICY}"),
    "ix_issue_origin": ("origin_region_code, id", f"holding_region_code, state, {POLICY}"),
}


def _replace(name: str, keys: str, include: str | None) -> None:
    covering = "" if include is None else f" INCLUDE ({include})"
    op.execute(f"CREATE INDEX {name}_new ON issue ({keys}){covering}")
    op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def upgrade() -> None:
    for name, (keys, include) in INDEXES.items():
        _replace(name, keys, include)


def downgrade() -> None:
    for name, (keys, _) in INDEXES.items():
        _replace(name, keys, None)
