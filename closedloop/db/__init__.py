"""The database layer. ``scheme_tables`` is imported here so that its table is on the
metadata of ``tables`` whenever that is read."""

from closedloop.db import scheme_tables as scheme_tables
