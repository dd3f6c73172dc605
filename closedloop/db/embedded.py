"""The embedded PostgreSQL (``pgserver``) used when no ``DATABASE_URL`` is configured."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """Starts a private PostgreSQL in ``data_dir`` and stops it on ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self, database: str = "closedloop") -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # pgserver asks platformdirs for a runtime dir; its fallback warning is harmless.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            get_server = pgserver.get_server  # type: ignore[attr-defined]
            self._server = get_server(self.data_dir, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
