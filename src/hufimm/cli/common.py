"""Pieces shared by the command modules: the CLI state and the common options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hufimm.settings import Settings, load_settings

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (overrides database_url / HUFIMM_DATABASE_URL)."),
]


@dataclass
class CliState:
    config_file: Path | None

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.config_file, **overrides)


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState(None)
