"""The ``closedloop`` command line: one module per command group, assembled here."""

from __future__ import annotations

import sys

import typer

from closedloop.cli.accounts import accounts_app
from closedloop.cli.channels import channels_app
from closedloop.cli.enterprises import enterprises_app
from closedloop.cli.importing import import_app
from closedloop.cli.migrate import migrate
from closedloop.cli.relay import relay_app
from closedloop.cli.report import report_app
from closedloop.cli.schema import export_schema
from closedloop.cli.seed import seed_app
from closedloop.cli.serve import serve
from closedloop.cli.sweep import sweep
from closedloop.cli.token import token

app = typer.Typer(help="closedloop: closed-loop resolution of enterprise issues (GraphQL API)")
app.command()(serve)
app.command()(migrate)
app.command()(token)
app.command()(sweep)
app.command("export-schema")(export_schema)
app.add_typer(seed_app, name="seed")
app.add_typer(relay_app, name="relay")
app.add_typer(import_app, name="import")
app.add_typer(report_app, name="report")
app.add_typer(accounts_app, name="accounts")
app.add_typer(enterprises_app, name="enterprises")
app.add_typer(channels_app, name="channels")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
