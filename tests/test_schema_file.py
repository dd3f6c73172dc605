"""The committed ``schema.graphql`` is what front-end teams code against: it must match."""

from __future__ import annotations

from pathlib import Path

from closedloop.cli.schema import schema_sdl
from closedloop.http.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(build_schema()), (
        "schema.graphql is stale: run `closedloop export-schema`"
    )
