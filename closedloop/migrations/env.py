"""Alembic environment: always run with a connection handed in by ``closedloop.db.migrate``."""

from __future__ import annotations

from alembic import context

from closedloop.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded by closedloop.db.migrate
    raise RuntimeError("run migrations through `closedloop migrate`")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
