"""The ``hufimm`` command line.

Each command group lives in its own module here and is registered below.  Errors that hufimm
raises on purpose (bad settings, bad input) end the command with one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from hufimm import __version__
from hufimm.cli import bench, config, db, demo, hufi, ledger, mixin, pool, run, sim, tracking
from hufimm.cli.common import CliState
from hufimm.core.errors import HufimmError

app = typer.Typer(
    name="hufimm",
    help="Market making for a Mixin bot, earning HuFi campaign rewards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", envvar="HUFIMM_CONFIG", help="TOML settings file."),
    ] = None,
) -> None:
    ctx.obj = CliState(config_file)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"hufimm {__version__}")


app.add_typer(db.app, name="db")
app.add_typer(config.app, name="config")
app.add_typer(mixin.app, name="mixin")
app.add_typer(sim.app, name="sim")
app.add_typer(pool.app, name="pool")
app.command(name="run")(run.run)
app.add_typer(hufi.app, name="hufi")
app.add_typer(ledger.app, name="ledger")
app.add_typer(tracking.app, name="tracking")
app.command(name="demo")(demo.demo)
app.command(name="bench")(bench.bench)


def main() -> None:
    """Entry point: run the CLI, turning hufimm's own errors into one clean line."""
    try:
        result = app(standalone_mode=False)
    except HufimmError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
