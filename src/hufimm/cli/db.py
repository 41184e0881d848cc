"""``hufimm db``: schema migrations."""

from __future__ import annotations

import typer

from hufimm.cli.common import DbOption, state
from hufimm.store.db import Database
from hufimm.store.migrate import current_heads, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context, db: DbOption = None) -> None:
    """Apply every pending migration (all modules' heads)."""
    settings = state(ctx).settings(database_url=db)
    database = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        before = set(current_heads(database))
        after = upgrade(database)
    finally:
        database.dispose()
    typer.echo(f"database: {database.describe()}")
    typer.echo(f"heads: {', '.join(after)}")
    typer.echo("already up to date" if set(after) == before else "upgraded")


@app.command("heads")
def heads_cmd(ctx: typer.Context, db: DbOption = None) -> None:
    """Show the applied migration heads."""
    settings = state(ctx).settings(database_url=db)
    database = Database(settings.database_url)
    try:
        heads = current_heads(database)
    finally:
        database.dispose()
    typer.echo(", ".join(heads) if heads else "(empty database)")
