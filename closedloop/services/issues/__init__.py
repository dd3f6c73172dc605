"""The issue loop: records and queries (``records``), filters (``queries``), and the
command handlers (``commands``), all run in one unit of work per request."""
