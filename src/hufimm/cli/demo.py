"""``hufimm demo``: the engine in virtual time against the simulated exchange, then a report."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hufimm.cli.common import DbOption, state
from hufimm.demo.session import DemoReport, Progress, run_demo
from hufimm.sim.exchange import FaultConfig


def demo(
    ctx: typer.Context,
    db: DbOption = None,
    minutes: Annotated[float, typer.Option(help="Simulated minutes of quoting.", min=0.1)] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulated world.")] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="Connect in-process instead of ccxt over HTTP.")
    ] = False,
    faults: Annotated[
        str | None,
        typer.Option(help="Simulated exchange faults, e.g. drop=0.01,timeout=0.02, or 'all'."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the market-making engine in virtual time on the simulated exchange and report."""
    settings = state(ctx).settings(database_url=db, seed=seed)
    fault_config = FaultConfig.parse(faults)
    console = Console(width=110)
    if as_json or not sys.stdout.isatty():
        report = run_demo(settings, minutes, fast=fast, faults=fault_config)
    else:
        with Live(_progress_table(None), console=console, refresh_per_second=8) as live:
            report = run_demo(
                settings,
                minutes,
                fast=fast,
                faults=fault_config,
                progress=lambda p: live.update(_progress_table(p)),
            )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), sort_keys=True))
        return
    console.print(_report_table(report))


def _progress_table(progress: Progress | None) -> Table:
    table = Table(title="hufimm demo (virtual time)", show_header=False)
    if progress is None:
        table.add_row("starting", "")
        return table
    table.add_row("simulated", f"{progress.simulated_s} / {progress.total_s} s")
    table.add_row("mid price", "-" if progress.mid is None else str(progress.mid))
    table.add_row("orders placed / open", f"{progress.orders} / {progress.open_orders}")
    table.add_row("fills", str(progress.fills))
    return table


def _report_table(report: DemoReport) -> Table:
    table = Table(title="hufimm demo report", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = [
        ("database", report.database),
        ("exchange path", report.mode),
        ("seed / faults", f"{report.seed} / {report.faults or 'none'}"),
        ("simulated time", f"{report.simulated_seconds} s"),
        ("ticks run / skipped", f"{report.ticks} / {report.skipped_ticks}"),
        ("tick cost p50 / p99", f"{report.tick_ms['p50']:.2f} / {report.tick_ms['p99']:.2f} ms"),
        ("pool budget (locked)", ", ".join(f"{v} {k}" for k, v in report.pool_budget.items())),
        ("orders placed (venue saw)", f"{report.orders_placed} ({report.venue_orders})"),
        ("fills", str(report.fills)),
        ("maker / taker volume", f"{report.maker_volume} / {report.taker_volume} USDT"),
        ("fees", ", ".join(f"{v} {k}" for k, v in report.fees.items()) or "none"),
        ("inventory start", ", ".join(f"{v} {k}" for k, v in report.inventory_start.items())),
        ("inventory end", ", ".join(f"{v} {k}" for k, v in report.inventory_end.items())),
        ("intents by status", ", ".join(f"{k} {v}" for k, v in report.intents_by_status.items())),
        ("duplicate orders", str(report.duplicate_orders)),
        ("open orders after drain", str(report.open_orders_after_drain)),
        ("budget breaches", str(report.budget_breaches)),
        (
            "reconciliation",
            f"{report.reconciliation['outcome']}, {report.reconciliation['mismatches']} mismatches",
        ),
        (
            "outbox events written / delivered",
            f"{report.events.get('written', 0)} / {report.events.get('delivered', 0)}",
        ),
        ("ledger verify", "passed" if report.ledger_verified else "FAILED"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table
