"""``hufimm run``: the engine against a real exchange, from settings."""

from __future__ import annotations

import typer

from hufimm.app import run_engine
from hufimm.cli.common import DbOption, state


def run(ctx: typer.Context, db: DbOption = None) -> None:
    """Quote the active pools on the exchange account in the settings, in real time, until
    interrupted (then orders are cancelled before exit)."""
    run_engine(state(ctx).settings(database_url=db))
