"""``hufimm ledger``: verify the ledger, and show a user's balances and history (operators)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hufimm.cli.common import DbOption, state
from hufimm.core.money import MIXIN_PRECISION, from_units
from hufimm.core.timesource import ns_to_datetime
from hufimm.ledger import reads, verify
from hufimm.store.db import Database

app = typer.Typer(help="The balance ledger.", no_args_is_help=True)

UserOption = Annotated[str, typer.Option("--user", help="Owner id (a user or system account).")]


def _database(ctx: typer.Context, db: str | None) -> Database:
    settings = state(ctx).settings(database_url=db)
    return Database(settings.database_url)


def _units(units: int) -> str:
    return f"{from_units(units, MIXIN_PRECISION)}"


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    db: DbOption = None,
    show: Annotated[int, typer.Option(help="How many violations to list.")] = 20,
) -> None:
    """Re-fold every journal and check the ledger's invariants; exit 1 on any violation."""
    database = _database(ctx, db)
    try:
        report = verify(database, max_listed=show)
    finally:
        database.dispose()
    typer.echo(f"database: {database.describe()}")
    for line in report.summary():
        typer.echo(line)
    if not report.ok:
        for violation in report.violations:
            typer.echo(f"  - {violation}")
        raise typer.Exit(1)


@app.command("balances")
def balances_cmd(ctx: typer.Context, user: UserOption, db: DbOption = None) -> None:
    """Every asset an owner holds: available, locked, total (atomic units and 8-decimal value)."""
    database = _database(ctx, db)
    try:
        rows = reads.balances_of(database, user)
    finally:
        database.dispose()
    if not rows:
        typer.echo(f"{user} has no balances")
        return
    table = Table(title=f"balances of {user}")
    for column in ("asset", "available", "locked", "total", "total (8 dp)"):
        table.add_column(column, justify="left" if column == "asset" else "right")
    for b in rows:
        table.add_row(b.asset_id, str(b.available), str(b.locked), str(b.total), _units(b.total))
    Console(width=160).print(table)


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    user: UserOption,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, max=reads.MAX_PAGE)] = 50,
    before: Annotated[
        int | None, typer.Option(help="Entry id cursor: show entries older than this one.")
    ] = None,
) -> None:
    """An owner's postings, newest first, with the balance after each journal."""
    database = _database(ctx, db)
    try:
        page = reads.entries_of(database, user, cursor=before, limit=limit)
    finally:
        database.dispose()
    if not page.entries:
        typer.echo(f"{user} has no entries")
        return
    table = Table(title=f"history of {user}")
    for column in (
        "entry",
        "journal",
        "time (UTC)",
        "type",
        "asset",
        "bucket",
        "amount",
        "available after",
        "locked after",
        "key",
    ):
        table.add_column(column, justify="right" if column in ("entry", "journal") else "left")
    for e in page.entries:
        when = ns_to_datetime(e.created_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        bucket = e.bucket if e.order_id is None else f"locked:{e.order_id}"
        table.add_row(
            str(e.entry_id),
            str(e.journal_id),
            when,
            e.type,
            e.asset_id,
            bucket,
            str(e.amount),
            str(e.available_after),
            str(e.locked_after),
            e.idempotency_key,
        )
    Console(width=200).print(table)
    if page.next_cursor is not None:
        typer.echo(f"more: --before {page.next_cursor}")
