"""``hufimm config``: the effective settings."""

from __future__ import annotations

import json

import typer

from hufimm.cli.common import DbOption, state

app = typer.Typer(help="Settings.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print the effective settings (file < environment < options), secrets masked."""
    settings = state(ctx).settings(database_url=db).masked()
    if as_json:
        typer.echo(json.dumps(settings, indent=2, sort_keys=True))
        return
    for key, value in _flatten(settings):
        typer.echo(f"{key} = {value}")


def _flatten(data: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, "" if value is None else value))
    return rows
