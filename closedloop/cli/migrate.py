"""``closedloop migrate``: the schema to its latest migration, the rollup up to date."""

from __future__ import annotations

import typer

from closedloop.cli.support import database_for, run_coroutine
from closedloop.settings import Settings


def migrate() -> None:
    """Upgrade the database to the latest migration (and load the Zhejiang tree if empty),
    then bring the dashboard rollup up to date (a migration may have marked every slice)."""
    from closedloop.http.process import prepare_data
    from closedloop.services.evaluation import rollup

    async def go() -> int:
        async with database_for(Settings(), migrate=True) as db:
            await prepare_data(db, demo=False)
            async with db.system_transaction() as conn:
                slices = await rollup.refresh_on(conn)
                await conn.commit()
                return slices

    slices = run_coroutine(go())
    typer.echo(f"database at head; dashboard rollup: {slices} slices recomputed")
