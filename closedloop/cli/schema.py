"""``closedloop export-schema``: the GraphQL schema as SDL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_schema(
    output: Annotated[Path, typer.Option(help="where to write the SDL")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema (SDL) that front-end teams code against."""
    from closedloop.http.schema import build_schema

    output.write_text(schema_sdl(build_schema()), encoding="utf-8")
    typer.echo(f"wrote {output}")


def schema_sdl(schema: object) -> str:
    from strawberry.printer import print_schema

    return print_schema(schema) + "\n"  # type: ignore[arg-type]
