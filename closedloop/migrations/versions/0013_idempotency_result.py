"""idempotency keys keep the first answer: the row the first request answered with

A replay with the same key returns what the first request returned, not the object as it
is now (``closedloop.services.idempotency``): the answer row is stored as JSON with the
key, in the first request's transaction. Keys claimed before this migration have none and
replay the current state, as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotency_key", sa.Column("result", pg.JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_key", "result")
