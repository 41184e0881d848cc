"""``hufimm bench [NAME...]``: run benchmarks, print one table, write the figures as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hufimm.bench.harness import BENCHMARKS, BenchOptions, print_table, run_benchmarks, write_json
from hufimm.core.errors import InvalidInput


def bench(
    names: Annotated[
        list[str] | None, typer.Argument(help="Benchmarks to run (default: all).")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Smaller workloads, for a smoke run.")] = False,
    output: Annotated[Path, typer.Option(help="Where to write the JSON figures.")] = Path(
        "bench-results.json"
    ),
    pg_dsn: Annotated[
        str | None,
        typer.Option(envvar="HUFIMM_BENCH_PG_DSN", help="PostgreSQL URL for the PG cases."),
    ] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the benchmarks.")] = False,
) -> None:
    """Run benchmarks (figures, not pass/fail)."""
    if list_only:
        for name, target in BENCHMARKS.items():
            typer.echo(f"{name:12} {target}")
        return
    selected = names or list(BENCHMARKS)
    try:
        figures = run_benchmarks(selected, BenchOptions(quick=quick, pg_dsn=pg_dsn))
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0])) from None
    print_table(figures)
    write_json(figures, output)
    typer.echo(f"figures written to {output}")
